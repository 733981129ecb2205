// virtmicad's command line, its virtmicad.conf and the socket/pid paths design.md promises.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "DaemonConfig.h"
#include "DaemonOptions.h"

using namespace mica::driver;

namespace {

DaemonOptions parse(std::vector<std::string> args)
{
    args.insert(args.begin(), "virtmicad");
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    return parseDaemonOptions(static_cast<int>(args.size()), argv.data());
}

}  // namespace

TEST(DaemonOptions, ParsesLongOptionsBothSpellings)
{
    auto o = parse({"--root", "/tmp/x", "--timeout=120", "--keepalive-interval", "2", "--keepalive-count=3",
                    "--vmm", "/bin/vmm"});
    EXPECT_EQ(o.root, "/tmp/x");
    EXPECT_EQ(o.timeoutSecs, 120);   // the client's session autostart passes --timeout=120
    EXPECT_EQ(o.keepaliveIntervalSecs, 2);
    EXPECT_EQ(o.keepaliveCount, 3);
    EXPECT_EQ(o.vmm, "/bin/vmm");
    EXPECT_FALSE(o.mode);
    EXPECT_EQ(parse({"--session"}).mode, DaemonMode::Session);
    EXPECT_TRUE(parse({"--help"}).help);
}

TEST(DaemonOptions, RejectsNonsense)
{
    EXPECT_THROW(parse({"--timeout", "soon"}), std::invalid_argument);
    EXPECT_THROW(parse({"--timeout", "-1"}), std::invalid_argument);
    EXPECT_THROW(parse({"--root"}), std::invalid_argument);
    EXPECT_THROW(parse({"--root", ""}), std::invalid_argument);
    EXPECT_THROW(parse({"--frobnicate"}), std::invalid_argument);
    EXPECT_THROW(parse({"extra"}), std::invalid_argument);
    for (const char* range : {"", "5", "0-10", "10-5", "-3-4", "1-x", "1-4294967295"})
        EXPECT_THROW(parse({"--vmm-uids", range}), std::invalid_argument) << range;
}

TEST(DaemonOptions, VmmConfinement)
{
    EXPECT_FALSE(parse({}).confinement);
    auto o = parse({"--vmm-uids", "2000000-2000099"});
    ASSERT_TRUE(o.confinement);
    EXPECT_EQ(o.confinement->firstUid, 2000000u);
    EXPECT_EQ(o.confinement->lastUid, 2000099u);
    EXPECT_EQ(o.confinement->cgroupParent, "/sys/fs/cgroup/machine.slice");
    EXPECT_EQ(parse({"--vmm-cgroup-parent", "/sys/fs/cgroup/x", "--vmm-uids", "7-7"}).confinement->cgroupParent,
              "/sys/fs/cgroup/x");
}

TEST(DaemonPaths, RootPutsEverythingUnderIt)
{
    auto p = daemonPaths(parse({"--root", "/tmp/r"}));
    EXPECT_EQ(p.mode, DaemonMode::System);
    EXPECT_EQ(p.rwSocket, "/tmp/r/virtmicad-sock");
    EXPECT_EQ(p.roSocket, "/tmp/r/virtmicad-sock-ro");
    EXPECT_EQ(p.pidFile, "/tmp/r/virtmicad.pid");
    EXPECT_EQ(p.stateDir, "/tmp/r/run");
    EXPECT_EQ(p.configDir, "/tmp/r/etc");
    EXPECT_EQ(p.logDir, "/tmp/r/log");
    EXPECT_EQ(p.saveDir, "/tmp/r/save");
    EXPECT_EQ(p.snapshotDir, "/tmp/r/snapshot");
}

TEST(DaemonPaths, SystemAndSession)
{
    auto sys = daemonPaths(parse({"--system"}));
    EXPECT_EQ(sys.rwSocket, "/run/libvirt/virtmicad-sock");
    EXPECT_EQ(sys.roSocket, "/run/libvirt/virtmicad-sock-ro");
    EXPECT_EQ(sys.stateDir, "/run/libvirt/mica");
    EXPECT_EQ(sys.configDir, "/etc/libvirt/mica");
    EXPECT_EQ(sys.logDir, "/var/log/libvirt/mica");
    EXPECT_EQ(sys.saveDir, "/var/lib/libvirt/mica/save");
    EXPECT_EQ(sys.snapshotDir, "/var/lib/libvirt/mica/snapshot");

    ::setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
    auto ses = daemonPaths(parse({"--session"}));
    EXPECT_EQ(ses.rwSocket, "/run/user/1234/libvirt/virtmicad-sock");
    EXPECT_TRUE(ses.roSocket.empty());
    ::unsetenv("XDG_RUNTIME_DIR");
    ::setenv("HOME", "/home/u", 1);
    EXPECT_EQ(daemonPaths(parse({"--session"})).rwSocket, "/home/u/.cache/libvirt/virtmicad-sock");
}

namespace {

// The settings virtmicad.conf may hold (DaemonOptions.cpp's applyDaemonConfig).
const std::set<std::string> kKnown = {"vmm_uids", "vmm_user", "vmm_cgroup_parent"};

// A virtmicad.conf with `text`, removed at the end of the test.
struct ConfigFile {
    std::string path;
    explicit ConfigFile(const std::string& text)
    {
        char name[] = "/tmp/virtmicad-conf-XXXXXX";
        int fd = ::mkstemp(name);
        ::close(fd);
        path = name;
        std::ofstream(path) << text;
    }
    ~ConfigFile() { ::unlink(path.c_str()); }
};

}  // namespace

TEST(DaemonConfig, ReadsLibvirtSyntax)
{
    ConfigFile f("# confinement\n\n  vmm_uids = \"2000-2009\"   # a range\nvmm_cgroup_parent=\"/sys/fs/cgroup/x\"\n");
    auto settings = readDaemonConfig(f.path, false, kKnown);
    EXPECT_EQ(settings.size(), 2u);
    EXPECT_EQ(settings["vmm_uids"], "2000-2009");
    EXPECT_EQ(settings["vmm_cgroup_parent"], "/sys/fs/cgroup/x");
    EXPECT_TRUE(readDaemonConfig("/nonexistent/virtmicad.conf", true, kKnown).empty());
    EXPECT_THROW(readDaemonConfig("/nonexistent/virtmicad.conf", false, kKnown), std::invalid_argument);
}

TEST(DaemonConfig, EveryMistakeNamesItsLine)
{
    for (const char* text : {"vmm_uid = \"1-2\"\n", "vmm_uids\n", "vmm_uids = \"1-2\n", "vmm_uids = \"1-2\" x\n",
                             "vmm_uids = 1-2\n", "vmm_uids = \"1-2\"\nvmm_uids = \"3-4\"\n", "vmm_user = \n"}) {
        ConfigFile f(text);
        try {
            readDaemonConfig(f.path, false, kKnown);
            ADD_FAILURE() << "accepted: " << text;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(f.path + ":"), std::string::npos) << e.what();
        }
    }
}

TEST(DaemonConfig, CommandLineWinsAndSettingsConfine)
{
    ConfigFile f("vmm_uids = \"3000-3009\"\nvmm_cgroup_parent = \"/sys/fs/cgroup/from-file\"\n");
    auto o = parse({"--root", "/tmp/r", "--config", f.path});
    applyDaemonConfig(o, daemonPaths(o));
    ASSERT_TRUE(o.confinement);
    EXPECT_EQ(o.confinement->firstUid, 3000u);
    EXPECT_EQ(o.confinement->cgroupParent, "/sys/fs/cgroup/from-file");

    o = parse({"--root", "/tmp/r", "--config", f.path, "--vmm-uids", "4000-4000"});
    applyDaemonConfig(o, daemonPaths(o));
    EXPECT_EQ(o.confinement->firstUid, 4000u);

    // A --root daemon reads ROOT/etc/virtmicad.conf, which need not exist.
    o = parse({"--root", "/nonexistent"});
    EXPECT_EQ(daemonPaths(o).configFile, "/nonexistent/etc/virtmicad.conf");
    applyDaemonConfig(o, daemonPaths(o));
    EXPECT_FALSE(o.confinement);
    o = parse({"--root", "/tmp/r", "--config", "/nonexistent/virtmicad.conf"});
    EXPECT_THROW(applyDaemonConfig(o, daemonPaths(o)), std::invalid_argument);
}

TEST(DaemonConfig, VmmUser)
{
    // A user every Debian system has; its uid is not root's.
    auto o = parse({"--vmm-user", "nobody"});
    ASSERT_TRUE(o.confinement);
    EXPECT_EQ(o.confinement->user, "nobody");
    EXPECT_EQ(o.confinement->userUid, 65534u);
    EXPECT_THROW(parse({"--vmm-user", "root"}), std::invalid_argument);
    EXPECT_THROW(parse({"--vmm-user", "no-such-user-here"}), std::invalid_argument);
    EXPECT_THROW(parse({"--vmm-user", "nobody", "--vmm-uids", "1-2"}), std::invalid_argument);
}

TEST(DaemonConfig, ClientLimits)
{
    // Defaults: libvirtd's where it has the setting.
    ClientLimits d = clientLimits(parse({}));
    EXPECT_EQ(d.maxClients, 5000);
    EXPECT_EQ(d.maxAnonymousClients, 20);
    EXPECT_EQ(d.anonymousClientTimeoutSecs, 30);
    EXPECT_EQ(d.maxIncomingMib, 256);

    auto o = parse({"--max-clients", "300", "--rw-reserved-clients=16", "--max-anonymous-clients", "5",
                    "--anonymous-client-timeout", "0", "--max-client-requests", "3", "--max-workers", "8",
                    "--max-incoming-mib", "64"});
    ClientLimits l = clientLimits(o);
    EXPECT_EQ(l.maxClients, 300);
    EXPECT_EQ(l.rwReservedClients, 16);
    EXPECT_EQ(l.maxAnonymousClients, 5);
    EXPECT_EQ(l.anonymousClientTimeoutSecs, 0);
    EXPECT_EQ(l.maxClientRequests, 3);
    EXPECT_EQ(l.maxWorkers, 8);
    EXPECT_EQ(l.maxIncomingMib, 64);

    // The file sets them too; the command line wins.
    ConfigFile f("max_clients = 400\nrw_reserved_clients = 10\nmax_anonymous_clients = 7\n"
                 "anonymous_client_timeout = 2\nmax_client_requests = 4\nmax_workers = 9\nmax_incoming_mib = 32\n");
    o = parse({"--root", "/tmp/r", "--config", f.path, "--max-workers", "11"});
    applyDaemonConfig(o, daemonPaths(o));
    l = clientLimits(o);
    EXPECT_EQ(l.maxClients, 400);
    EXPECT_EQ(l.rwReservedClients, 10);
    EXPECT_EQ(l.maxAnonymousClients, 7);
    EXPECT_EQ(l.anonymousClientTimeoutSecs, 2);
    EXPECT_EQ(l.maxClientRequests, 4);
    EXPECT_EQ(l.maxWorkers, 11);
    EXPECT_EQ(l.maxIncomingMib, 32);

    // Nonsense: zero where a limit needs one, words, reserved slots taking everything.
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"--max-clients", "0"}, {"--max-anonymous-clients", "0"}, {"--max-workers", "many"},
             {"--max-incoming-mib", "0"}, {"--max-clients", "10", "--rw-reserved-clients", "10"},
             {"--rw-reserved-clients", "5000"}})
        EXPECT_THROW(parse(args), std::invalid_argument) << args[0] << " " << args[1];
    for (const char* text : {"max_clients = 0\n", "max_workers = \"x\"\n", "max_clients = 10\nrw_reserved_clients = 20\n"}) {
        ConfigFile bad(text);
        o = parse({"--root", "/tmp/r", "--config", bad.path});
        EXPECT_THROW(applyDaemonConfig(o, daemonPaths(o)), std::invalid_argument) << text;
    }
}

// virtmicad's command line and the socket/pid paths design.md promises.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

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

    ::setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
    auto ses = daemonPaths(parse({"--session"}));
    EXPECT_EQ(ses.rwSocket, "/run/user/1234/libvirt/virtmicad-sock");
    EXPECT_TRUE(ses.roSocket.empty());
    ::unsetenv("XDG_RUNTIME_DIR");
    ::setenv("HOME", "/home/u", 1);
    EXPECT_EQ(daemonPaths(parse({"--session"})).rwSocket, "/home/u/.cache/libvirt/virtmicad-sock");
}

// mica-vmm's command line: what it accepts and how it says no.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "CommandLine.h"
#include "ValidateConfig.h"
#include "VmConfigJson.h"

using namespace mica;

namespace {
CommandLine parse(std::vector<std::string> args)
{
    return parseCommandLine(args);
}
std::string errorOf(std::vector<std::string> args)
{
    try {
        parseCommandLine(args);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "(accepted)";
}
}  // namespace

TEST(CommandLine, FullExample)
{
    auto cl = parse({"--kernel", "/k", "--initramfs=/i", "--cmdline", "console=ttyS0 quiet", "--cpus",
                     "boot=2,max=4,topology=2:2:1", "--memory", "size=5G,hugepages=on", "--serial",
                     "file=/tmp/s", "--on-reboot", "exit"});
    EXPECT_EQ(cl.config.payload.kernel, "/k");
    EXPECT_EQ(cl.config.payload.initramfs, "/i");
    EXPECT_EQ(cl.config.payload.cmdline, "console=ttyS0 quiet");
    EXPECT_EQ(cl.config.cpus.boot, 2u);
    EXPECT_EQ(cl.config.cpus.max, 4u);
    EXPECT_EQ(cl.config.cpus.topology.sockets, 2u);
    EXPECT_EQ(cl.config.memory.size, 5ull << 30);
    EXPECT_TRUE(cl.config.memory.hugePages);
    EXPECT_EQ(cl.config.serial.kind, CharBackendConfig::Kind::File);
    EXPECT_EQ(cl.config.serial.path, "/tmp/s");
    EXPECT_EQ(cl.onReboot, CommandLine::OnReboot::Exit);
}

TEST(CommandLine, Defaults)
{
    auto cl = parse({"--kernel", "/k"});
    EXPECT_EQ(cl.config.cpus.boot, 1u);
    EXPECT_EQ(cl.config.cpus.max, 1u);
    EXPECT_EQ(cl.config.memory.size, 512ull << 20);
    EXPECT_EQ(cl.config.serial.kind, CharBackendConfig::Kind::Tty);
    EXPECT_EQ(cl.onReboot, CommandLine::OnReboot::Restart);
}

TEST(CommandLine, Sizes)
{
    EXPECT_EQ(parseSize("4096", "x"), 4096u);
    EXPECT_EQ(parseSize("64K", "x"), 65536u);
    EXPECT_EQ(parseSize("1t", "x"), 1ull << 40);
    EXPECT_THROW(parseSize("", "x"), UsageError);
    EXPECT_THROW(parseSize("M", "x"), UsageError);
    EXPECT_THROW(parseSize("12Q", "x"), UsageError);
    EXPECT_THROW(parseSize("-1G", "x"), UsageError);
    EXPECT_THROW(parseSize("99999999999999999999G", "x"), UsageError);
    EXPECT_THROW(parseSize("17179869184G", "x"), UsageError);  // overflows 64 bits
}

TEST(CommandLine, ErrorsNameWhatIsWrong)
{
    EXPECT_EQ(errorOf({}), "--kernel is required (or --api-socket, to create the VM through the API)");
    EXPECT_FALSE(parse({"--api-socket", "/tmp/s"}).hasVm);
    EXPECT_EQ(errorOf({"--api-socket", "/s", "--seccomp", "maybe"}), "--seccomp: expected true, false or log, got 'maybe'");
    EXPECT_EQ(errorOf({"--kernel"}), "--kernel: missing value");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--bogus", "1"}), "--bogus: unknown option");
    EXPECT_EQ(errorOf({"--kernel", "/k", "stray"}), "stray: unexpected argument");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--kernel", "/j"}), "--kernel: given more than once");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--cpus", "boot=0"}), "cpus.boot_vcpus: must be at least 1");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--cpus", "boot=4,max=2"}), "cpus.max_vcpus: must not be less than boot_vcpus");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--cpus", "boot=x"}), "--cpus boot: expected a number, got 'x'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--cpus", "boot=2,topology=1:1:1"}),
              "cpus.topology: sockets x cores x threads must equal max_vcpus");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--cpus", "cores=2"}), "--cpus: unknown parameter 'cores=2'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--memory", "size=1M"}), "memory.size: must be a multiple of 4096 and at least 16 MiB");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--memory", "size=64M,size=32M"}), "--memory: parameter given twice: size");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--memory", "hugepages=maybe"}),
              "--memory hugepages: expected on or off, got 'maybe'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--serial", "telnet"}),
              "--serial: expected off, tty, pty, file=PATH or socket=PATH, got 'telnet'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--on-reboot", "never"}), "--on-reboot: expected restart or exit, got 'never'");
}

TEST(CommandLine, InformationalOptionsNeedNoKernel)
{
    EXPECT_TRUE(parse({"--version"}).showVersion);
    EXPECT_TRUE(parse({"--features"}).showFeatures);
    EXPECT_TRUE(parse({"--help"}).showHelp);
}

TEST(CommandLine, DisksRepeat)
{
    auto cl = parse({"--kernel", "/k", "--disk", "path=/a.raw", "--disk",
                     "path=/b.raw,readonly=on,direct=on,num_queues=4,serial=S1,id=data"});
    ASSERT_EQ(cl.config.disks.size(), 2u);
    EXPECT_EQ(cl.config.disks[0].path, "/a.raw");
    EXPECT_EQ(cl.config.disks[0].id, "vda");
    EXPECT_FALSE(cl.config.disks[0].readOnly);
    EXPECT_EQ(cl.config.disks[0].numQueues, 1u);
    const auto& b = cl.config.disks[1];
    EXPECT_EQ(b.id, "data");
    EXPECT_TRUE(b.readOnly);
    EXPECT_TRUE(b.direct);
    EXPECT_EQ(b.numQueues, 4u);
    EXPECT_EQ(b.serial, "S1");
}

// io_engine: auto unless asked, written back only when asked (a client's config comes
// back as it was sent), io_uring refused for other formats than raw.
TEST(CommandLine, DiskIoEngine)
{
    auto cl = parse({"--kernel", "/k", "--disk", "path=/a.raw", "--disk", "path=/b.raw,io_engine=io_uring", "--disk",
                     "path=/c.qcow2,image_type=qcow2,io_engine=threads"});
    EXPECT_EQ(cl.config.disks[0].ioEngine, block::IoEngineKind::Auto);
    EXPECT_EQ(cl.config.disks[1].ioEngine, block::IoEngineKind::IoUring);
    EXPECT_EQ(cl.config.disks[2].ioEngine, block::IoEngineKind::Threads);
    auto json = vmConfigToJson(cl.config);
    EXPECT_FALSE(json["disks"][0].contains("io_engine"));
    EXPECT_EQ(json["disks"][1]["io_engine"], "io_uring");
    EXPECT_EQ(json["disks"][2]["io_engine"], "threads");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,io_engine=aio"}),
              "--disk io_engine: expected auto, io_uring or threads");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a.qcow2,image_type=qcow2,io_engine=io_uring"}),
              "disks[0].io_engine: io_uring serves raw images only (image_type raw)");
}

// Every PCI device ends up with an id and a slot: given ones are kept, the rest get the
// first free id of their pattern and the lowest free slot, in the order devices are listed.
TEST(CommandLine, DeviceIdsAndSlots)
{
    auto cl = parse({"--kernel", "/k", "--disk", "path=/a,pci_slot=3", "--disk", "path=/b,id=vda", "--disk", "path=/c",
                     "--net", "tap=t0,id=uplink,pci_slot=1", "--net", "tap=t1", "--rng", "src=/dev/urandom",
                     "--vsock", "cid=3,socket=/v,pci_slot=31", "--balloon", "size=0,id=mem"});
    const auto& c = cl.config;
    EXPECT_EQ(c.disks[0].id, "vdb");  // vda is taken by the second disk
    EXPECT_EQ(c.disks[0].pciSlot, 3u);
    EXPECT_EQ(c.disks[1].id, "vda");
    EXPECT_EQ(c.disks[1].pciSlot, 2u);
    EXPECT_EQ(c.disks[2].id, "vdc");
    EXPECT_EQ(c.disks[2].pciSlot, 4u);
    EXPECT_EQ(c.nets[0].id, "uplink");
    EXPECT_EQ(c.nets[0].pciSlot, 1u);
    EXPECT_EQ(c.nets[1].id, "net1");
    EXPECT_EQ(c.nets[1].pciSlot, 5u);
    EXPECT_EQ(c.rng.id, "rng0");
    EXPECT_EQ(c.rng.pciSlot, 6u);
    EXPECT_EQ(c.vsock.pciSlot, 31u);
    EXPECT_EQ(c.balloon.id, "mem");
    EXPECT_EQ(c.balloon.pciSlot, 7u);
    // What validateConfig() made of it is a fixed point: a restore gets the same answer.
    VmConfig again = c;
    validateConfig(again);
    EXPECT_EQ(vmConfigToJson(again), vmConfigToJson(c));

    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,pci_slot=0"}),
              "disks[0].pci_slot: must be between 1 and 31 (slot 0 is the host bridge)");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,pci_slot=32"}),
              "disks[0].pci_slot: must be between 1 and 31 (slot 0 is the host bridge)");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,pci_slot=4", "--rng", "src=/r,pci_slot=4"}),
              "rng.pci_slot: slot 4 is taken by another device");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,id=x", "--net", "tap=t,id=x"}),
              "net[0].id: another device already has id 'x'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,id=a b"}), "disks[0].id: 1 to 64 letters, digits, '_', '-' or '.'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,pci_slot=x"}), "--disk pci_slot: expected a number, got 'x'");
    std::vector<std::string> many = {"--kernel", "/k"};
    for (int i = 0; i < 32; ++i) {
        many.push_back("--disk");
        many.push_back("path=/d" + std::to_string(i));
    }
    EXPECT_EQ(errorOf(many), "devices: 32 PCI devices do not fit the 31 slots of bus 0");
    many.resize(2 + 2 * 28);  // 28 disks: vda .. vdab
    EXPECT_EQ(parse(many).config.disks.back().id, "vdab");
}

TEST(CommandLine, DiskErrors)
{
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "readonly=on"}), "--disk: path=PATH is required");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,num_queues=0"}), "disks[0].num_queues: must be between 1 and 64");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,serial=123456789012345678901"}),
              "disks[0].serial: at most 20 characters");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,id=x", "--disk", "path=/b,id=x"}), "disks[1].id: another device already has id 'x'");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--disk", "path=/a,format=qcow2"}), "--disk: unknown parameter 'format=qcow2'");
}

TEST(CommandLine, ConsoleAndRng)
{
    auto cl = parse({"--kernel", "/k", "--console", "socket=/run/c.sock", "--rng", "src=/dev/random"});
    EXPECT_TRUE(cl.config.console.enabled);
    EXPECT_EQ(cl.config.console.backend.kind, CharBackendConfig::Kind::Socket);
    EXPECT_EQ(cl.config.console.backend.path, "/run/c.sock");
    EXPECT_TRUE(cl.config.rng.enabled);
    EXPECT_EQ(cl.config.rng.source, "/dev/random");
    auto none = parse({"--kernel", "/k", "--console", "off"});
    EXPECT_FALSE(none.config.console.enabled);
    EXPECT_FALSE(none.config.rng.enabled);
    EXPECT_TRUE(none.config.disks.empty());
    EXPECT_EQ(errorOf({"--kernel", "/k", "--console", "tty"}),
              "console: the serial port has the terminal already; give the serial port another backend");
    EXPECT_TRUE(parse({"--kernel", "/k", "--console", "tty", "--serial", "off"}).config.console.enabled);
    EXPECT_EQ(errorOf({"--kernel", "/k", "--rng", "src=/a", "--rng", "src=/b"}), "--rng: given more than once");
}

TEST(CommandLine, NetAndVsock)
{
    // fd=N hands the fd to the config, which closes it with the last copy: a real one.
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    ::close(p[1]);
    std::string fdOption = "fd=" + std::to_string(p[0]);
    auto cl = parse({"--kernel", "/k", "--net", "tap=tap0,mac=52:54:00:aa:bb:cc,num_queues=4", "--net", fdOption.c_str(),
                     "--vsock", "cid=7,socket=/run/v.sock"});
    ASSERT_EQ(cl.config.nets.size(), 2u);
    EXPECT_EQ(cl.config.nets[0].tap, "tap0");
    EXPECT_EQ(cl.config.nets[0].mac, "52:54:00:aa:bb:cc");
    EXPECT_EQ(cl.config.nets[0].numQueues, 4u);
    EXPECT_EQ(cl.config.nets[0].id, "net0");
    ASSERT_EQ(cl.config.nets[1].fds.size(), 1u);
    EXPECT_EQ(cl.config.handedFds.at(cl.config.nets[1].fds[0])->get(), p[0]);
    EXPECT_EQ(cl.config.nets[1].id, "net1");
    EXPECT_TRUE(cl.config.vsock.enabled);
    EXPECT_EQ(cl.config.vsock.cid, 7u);
    EXPECT_EQ(cl.config.vsock.socket, "/run/v.sock");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--net", "mac=52:54:00:aa:bb:cc"}), "--net: give exactly one of tap=NAME and fd=N");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--net", "tap=t,mac=52-54"}), "net[0].mac: expected a MAC address such as 52:54:00:12:34:56");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--net", "tap=t,num_queues=3"}), "net[0].num_queues: must be even, from 2 to 32");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--vsock", "cid=2,socket=/x"}), "vsock.cid: must be at least 3 (0-2 are reserved) and below 2^32 - 1");
    EXPECT_EQ(errorOf({"--kernel", "/k", "--vsock", "cid=5"}), "--vsock: cid=N and socket=PATH are required");
    cl = {};
    EXPECT_EQ(::fcntl(p[0], F_GETFD), -1);   // closed with the config
    ASSERT_EQ(::pipe(p), 0);
    ::close(p[1]);
    fdOption = "fd=" + std::to_string(p[0]);
    EXPECT_EQ(errorOf({"--kernel", "/k", "--net", fdOption.c_str(), "--net", fdOption.c_str()}),
              "--net " + fdOption + ": given twice");
    ASSERT_EQ(::pipe(p), 0);   // the failed parse closed the last one
    ::close(p[1]);
    fdOption = "fd=" + std::to_string(p[0]);
    EXPECT_EQ(errorOf({"--kernel", "/k", "--net", (fdOption + ",num_queues=4").c_str()}),
              "net[0].fds: 1 fds for 2 queue pairs (num_queues 4): give one fd per queue pair");
}

TEST(CommandLine, Balloon)
{
    auto cl = parse({"--kernel", "/k", "--balloon", "size=128M,free_page_reporting=on"});
    EXPECT_TRUE(cl.config.balloon.enabled);
    EXPECT_EQ(cl.config.balloon.size, 128ull << 20);
    EXPECT_TRUE(cl.config.balloon.freePageReporting);
    EXPECT_EQ(errorOf({"--kernel", "/k", "--balloon", "size=1G"}), "balloon.size: larger than the memory");
}

// The kernel loaders on synthetic images: what they put where in guest memory, and
// how they refuse what they cannot boot.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "E820.h"
#include "Error.h"
#include "GuestMemory.h"
#include "KernelLoader.h"
#include "Layout.h"

using namespace mica;
using namespace mica::x86;

namespace {

template <typename T>
void put(std::vector<uint8_t>& v, size_t at, T value)
{
    std::memcpy(v.data() + at, &value, sizeof value);
}

template <typename T>
T get(const GuestMemory& m, uint64_t gpa)
{
    T value;
    std::memcpy(&value, m.slice(gpa, sizeof value).data(), sizeof value);
    return value;
}

class TempFile {
public:
    explicit TempFile(const std::vector<uint8_t>& data)
    {
        char name[] = "/tmp/mica-loader-XXXXXX";
        int fd = mkstemp(name);
        path_ = name;
        [[maybe_unused]] auto n = write(fd, data.data(), data.size());
        close(fd);
    }
    ~TempFile() { unlink(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A bzImage that is all header: 4 setup sectors, protocol 2.15, a 64-bit entry.
std::vector<uint8_t> fakeBzImage(size_t payload)
{
    std::vector<uint8_t> k(5 * 512 + payload, 0);
    k[0x1f1] = 4;
    k[0x201] = 0x6a;  // header length past 0x202
    std::memcpy(k.data() + 0x202, "HdrS", 4);
    put<uint16_t>(k, 0x206, 0x020f);
    put<uint32_t>(k, 0x22c, 0x7fffffff);  // initrd_addr_max
    put<uint16_t>(k, 0x236, 1);           // XLF_KERNEL_64
    for (size_t i = 0; i < payload; ++i)
        k[5 * 512 + i] = static_cast<uint8_t>(i * 7);
    return k;
}

// An ELF vmlinux with one PT_LOAD at 16 MiB and a Xen PHYS32_ENTRY note.
std::vector<uint8_t> fakeVmlinux(bool withNote)
{
    std::vector<uint8_t> e(0x2000, 0);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_machine = EM_X86_64;
    eh.e_phoff = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    put(e, 0, eh);
    Elf64_Phdr load{};
    load.p_type = PT_LOAD;
    load.p_offset = 0x1000;
    load.p_paddr = 0x1000000;
    load.p_filesz = 0x100;
    load.p_memsz = 0x2000;  // the rest is bss
    put(e, sizeof eh, load);
    Elf64_Phdr note{};
    note.p_type = PT_NOTE;
    note.p_offset = 0x800;
    note.p_filesz = sizeof(Elf64_Nhdr) + 4 + 4;
    put(e, sizeof eh + sizeof load, note);
    Elf64_Nhdr nh{4, 4, withNote ? 18u : 17u};
    put(e, 0x800, nh);
    std::memcpy(e.data() + 0x800 + sizeof nh, "Xen", 4);
    put<uint32_t>(e, 0x800 + sizeof nh + 4, 0x1000040);
    std::memset(e.data() + 0x1000, 0xab, 0x100);
    return e;
}

}  // namespace

TEST(GuestMemory, SplitsAroundTheMmioHoleAndChecksBounds)
{
    GuestMemory m(64ull << 20, 32ull << 20, 4ull << 30);
    ASSERT_EQ(m.regions().size(), 2u);
    EXPECT_EQ(m.regions()[1].gpa, 4ull << 30);
    EXPECT_EQ(m.regions()[1].size, 32ull << 20);
    EXPECT_TRUE(m.contains((4ull << 30) + 100, 100));
    EXPECT_FALSE(m.contains((32ull << 20) - 1, 2));  // straddles the hole
    EXPECT_THROW(m.slice(40ull << 20, 1), Error);
    EXPECT_THROW(m.slice(~0ull - 1, 4), Error);       // wraps
    auto e820 = buildE820(m);
    EXPECT_EQ(e820.back().addr, 4ull << 30);
    EXPECT_EQ(e820.back().type, kE820Ram);
}

TEST(LinuxBoot, LoadsPayloadZeroPageInitramfsAndE820)
{
    GuestMemory m(64ull << 20, kMmioHoleStart, kRamAbove4g);
    TempFile kernel(fakeBzImage(4096));
    TempFile initrd(std::vector<uint8_t>(10000, 0x42));
    BootEntry entry = loadKernel(m, {kernel.path(), initrd.path(), "console=ttyS0"}, kRsdpAddr);
    EXPECT_EQ(entry.mode, BootEntry::Mode::Linux64);
    EXPECT_EQ(entry.entry, kKernelLoadAddr + 0x200);
    EXPECT_EQ(entry.bootParams, kZeroPageAddr);
    EXPECT_EQ(get<uint8_t>(m, kKernelLoadAddr + 7), 7 * 7);
    EXPECT_EQ(get<uint8_t>(m, kZeroPageAddr + 0x210), 0xff);        // type_of_loader
    EXPECT_EQ(get<uint32_t>(m, kZeroPageAddr + 0x228), kCmdlineAddr);
    EXPECT_STREQ(reinterpret_cast<const char*>(m.slice(kCmdlineAddr, 14).data()), "console=ttyS0");
    uint32_t ramdisk = get<uint32_t>(m, kZeroPageAddr + 0x218);
    EXPECT_EQ(get<uint32_t>(m, kZeroPageAddr + 0x21c), 10000u);
    EXPECT_EQ(ramdisk % 4096, 0u);
    EXPECT_LE(ramdisk + 10000u, 64u << 20);
    EXPECT_EQ(get<uint8_t>(m, ramdisk + 9999), 0x42);
    uint8_t entries = get<uint8_t>(m, kZeroPageAddr + 0x1e8);
    EXPECT_EQ(entries, buildE820(m).size());
    EXPECT_EQ(get<uint64_t>(m, kZeroPageAddr + 0x2d0 + 20 * (entries - 1)), kHighMemoryStart);
}

TEST(LinuxBoot, RefusesKernelsWithoutA64BitEntry)
{
    GuestMemory m(64ull << 20, kMmioHoleStart, kRamAbove4g);
    auto image = fakeBzImage(16);
    put<uint16_t>(image, 0x236, 0);
    TempFile kernel(image);
    EXPECT_THROW(loadKernel(m, {kernel.path(), "", ""}, kRsdpAddr), Error);
    put<uint16_t>(image, 0x206, 0x0200);
    TempFile old(image);
    EXPECT_THROW(loadKernel(m, {old.path(), "", ""}, kRsdpAddr), Error);
}

TEST(PvhBoot, LoadsSegmentsAndStartInfo)
{
    GuestMemory m(64ull << 20, kMmioHoleStart, kRamAbove4g);
    std::memset(m.slice(0x1000100, 16).data(), 0xee, 16);  // bss must come back zeroed
    TempFile kernel(fakeVmlinux(true));
    TempFile initrd(std::vector<uint8_t>(5000, 0x17));
    BootEntry entry = loadKernel(m, {kernel.path(), initrd.path(), "quiet"}, kRsdpAddr);
    EXPECT_EQ(entry.mode, BootEntry::Mode::Pvh32);
    EXPECT_EQ(entry.entry, 0x1000040u);
    EXPECT_EQ(get<uint8_t>(m, 0x10000ff), 0xab);
    EXPECT_EQ(get<uint8_t>(m, 0x1000100), 0);
    EXPECT_EQ(get<uint32_t>(m, kPvhStartInfoAddr), 0x336ec578u);
    EXPECT_EQ(get<uint32_t>(m, kPvhStartInfoAddr + 12), 1u);               // one module
    EXPECT_EQ(get<uint64_t>(m, kPvhStartInfoAddr + 24), kCmdlineAddr);
    EXPECT_EQ(get<uint64_t>(m, kPvhStartInfoAddr + 32), kRsdpAddr);
    uint64_t module = get<uint64_t>(m, get<uint64_t>(m, kPvhStartInfoAddr + 16));
    EXPECT_EQ(get<uint8_t>(m, module + 4999), 0x17);
    EXPECT_EQ(get<uint32_t>(m, kPvhStartInfoAddr + 48), buildE820(m).size());
}

TEST(PvhBoot, RefusesElfWithoutPvhNoteAndGarbage)
{
    GuestMemory m(64ull << 20, kMmioHoleStart, kRamAbove4g);
    TempFile noNote(fakeVmlinux(false));
    try {
        loadKernel(m, {noNote.path(), "", ""}, kRsdpAddr);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no PVH entry point"), std::string::npos);
    }
    auto truncated = fakeVmlinux(true);
    truncated.resize(0x900);  // the PT_LOAD's bytes are gone
    TempFile cut(truncated);
    EXPECT_THROW(loadKernel(m, {cut.path(), "", ""}, kRsdpAddr), Error);
    TempFile garbage(std::vector<uint8_t>(4096, 0x90));
    EXPECT_THROW(loadKernel(m, {garbage.path(), "", ""}, kRsdpAddr), Error);
}

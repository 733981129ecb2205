// GuestMemory maps RAM as its backing says (libvirt's <memoryBacking> source and access
// reach it through VmConfig), and discard() gives pages back in each of those backings.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "GuestMemory.h"

using mica::GuestMemory;
using mica::MemoryBacking;

namespace {

// The /proc/self/maps line of the mapping that starts at `base`.
std::string mapsLine(const void* base)
{
    char start[32];
    std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(base));
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.rfind(start, 0) == 0)
            return line;
    return "";
}

std::string permissions(const std::string& line)
{
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    return perms;
}

struct Case {
    MemoryBacking backing;
    const char* perms;
    bool memfd;
};

class GuestMemoryBacking : public testing::TestWithParam<Case> {};

TEST_P(GuestMemoryBacking, MapsAsConfiguredAndDiscards)
{
    const Case& c = GetParam();
    GuestMemory memory(32ull << 20, 0xc0000000, 0x100000000, c.backing);
    std::string line = mapsLine(memory.hostBase());
    ASSERT_FALSE(line.empty()) << "no mapping at the guest RAM's address";
    EXPECT_EQ(permissions(line), c.perms) << line;
    EXPECT_EQ(line.find("memfd:mica-guest-ram") != std::string::npos, c.memfd) << line;
    EXPECT_EQ(memory.fd() >= 0, c.memfd);
    // On a 2 MiB boundary, so KVM can map the guest with 2 MiB pages.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.hostBase()) % (2 << 20), 0u);

    auto page = memory.slice(1 << 20, 4096);
    page[0] = 0x5a;
    page[4095] = 0xa5;
    memory.discard(page);
    EXPECT_EQ(page[0], 0);
    EXPECT_EQ(page[4095], 0);
    // Discarding one page leaves its neighbours alone.
    auto next = memory.slice((1 << 20) + 4096, 1);
    next[0] = 7;
    memory.discard(memory.slice(1 << 20, 4096));
    EXPECT_EQ(next[0], 7);
}

INSTANTIATE_TEST_SUITE_P(Backings, GuestMemoryBacking,
                         testing::Values(Case{{false, false, false}, "rw-p", false},
                                         Case{{false, false, true}, "rw-s", false},
                                         Case{{false, true, false}, "rw-p", true},
                                         Case{{false, true, true}, "rw-s", true}));

}  // namespace

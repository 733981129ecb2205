// The save image container (driver/domain/SaveImage.h): a round trip through a real
// snapshot directory keeps every byte and the memory's holes; a damaged file (truncated,
// wrong magic, another version, lengths that overflow or point past the end, bytes past
// the end) is refused with a message that says which, before anything is unpacked; a
// failing write leaves no file behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "SaveImage.h"

namespace fs = std::filesystem;
using namespace mica::domain;

namespace {

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void spit(const std::string& path, const std::string& data)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

void putU64(std::string& image, std::size_t at, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        image[at + i] = static_cast<char>(v >> (8 * i));
}

class SaveImageTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/mica-save-image-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        snap = dir + "/snap";
        fs::create_directory(snap);
        spit(snap + "/config.json", R"({"payload":{"kernel":"/k"}})");
        spit(snap + "/state.json", R"({"format":"mica-snapshot","version":1})");
        // 64 KiB of RAM with data in two pages only: the rest must stay holes.
        int fd = ::open((snap + "/memory").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, 64 * 1024), 0);
        ASSERT_EQ(::pwrite(fd, "first", 5, 4096), 5);
        ASSERT_EQ(::pwrite(fd, "last", 4, 60 * 1024), 4);
        ::close(fd);
        image = dir + "/guest.save";
        writeSaveImage(snap, xml, true, image);
    }
    void TearDown() override { fs::remove_all(dir); }

    // Writes bytes as the image and expects them refused with a message containing what.
    void expectRefused(const std::string& bytes, const std::string& what)
    {
        spit(image, bytes);
        try {
            readSaveImage(image);
            ADD_FAILURE() << "accepted an image that should say: " << what;
        } catch (const SaveImageError& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(image), std::string::npos) << "names the file: " << e.what();
        }
        fs::create_directory(dir + "/out");
        EXPECT_THROW(extractSaveImage(image, dir + "/out"), SaveImageError);
        EXPECT_FALSE(fs::exists(dir + "/out/memory")) << "unpacked a refused image";
        fs::remove_all(dir + "/out");
    }

    std::string dir, snap, image;
    std::string xml = "<domain type='kvm'><name>g</name></domain>";
};

}  // namespace

TEST_F(SaveImageTest, RoundTripKeepsEveryByteAndTheHoles)
{
    SaveImageInfo info = readSaveImage(image);
    EXPECT_EQ(info.xml, xml);
    EXPECT_TRUE(info.header.wasRunning());
    EXPECT_EQ(info.header.memoryLength, 64u * 1024);
    EXPECT_EQ(info.header.memoryOffset % 4096, 0u);

    std::string out = dir + "/out";
    fs::create_directory(out);
    SaveImageHeader h = extractSaveImage(image, out);
    EXPECT_EQ(slurp(out + "/config.json"), slurp(snap + "/config.json"));
    EXPECT_EQ(slurp(out + "/state.json"), slurp(snap + "/state.json"));
    // The RAM stays in the image (the VMM reads it there), the snapshot's bytes exactly.
    EXPECT_FALSE(fs::exists(out + "/memory"));
    EXPECT_EQ(h.memoryOffset, info.header.memoryOffset);
    EXPECT_EQ(slurp(image).substr(h.memoryOffset), slurp(snap + "/memory"));
    struct stat st{};
    ASSERT_EQ(::stat(image.c_str(), &st), 0);
    // Two data pages and the parts before them (file systems may round up a little,
    // never to the whole 64 KiB).
    EXPECT_LT(st.st_blocks * 512, static_cast<blkcnt_t>(h.memoryOffset + 64 * 1024)) << "the memory's holes were filled in";

    // No temporary file is left beside the image.
    int files = 0;
    for (auto& e : fs::directory_iterator(dir))
        files += e.is_regular_file();
    EXPECT_EQ(files, 1);
}

TEST_F(SaveImageTest, PausedFlagIsKept)
{
    writeSaveImage(snap, xml, false, image);
    EXPECT_FALSE(readSaveImage(image).header.wasRunning());
}

TEST_F(SaveImageTest, RedefiningChangesTheXmlAndFlagOnly)
{
    // A longer XML moves the memory to a later page; the snapshot comes along unchanged.
    std::string longer = "<domain type='kvm'><name>g</name><description>" + std::string(5000, 'x') +
                         "</description></domain>";
    std::string before = slurp(image);
    SaveImageHeader old = readSaveImage(image).header;
    redefineSaveImage(image, longer, false);
    SaveImageInfo info = readSaveImage(image);
    EXPECT_EQ(info.xml, longer);
    EXPECT_FALSE(info.header.wasRunning());
    EXPECT_GT(info.header.memoryOffset, old.memoryOffset);
    std::string out = dir + "/out";
    fs::create_directory(out);
    SaveImageHeader h = extractSaveImage(image, out);
    EXPECT_EQ(slurp(out + "/config.json"), slurp(snap + "/config.json"));
    EXPECT_EQ(slurp(out + "/state.json"), slurp(snap + "/state.json"));
    EXPECT_EQ(slurp(image).substr(h.memoryOffset), before.substr(old.memoryOffset));
    // A damaged image is refused, not rewritten.
    spit(image, before.substr(0, before.size() - 4096));
    EXPECT_THROW(redefineSaveImage(image, xml, true), SaveImageError);
    EXPECT_EQ(slurp(image).size(), before.size() - 4096);
}

TEST_F(SaveImageTest, TruncatedIsRefused)
{
    std::string whole = slurp(image);
    expectRefused(whole.substr(0, whole.size() - 1), "truncated");
    expectRefused(whole.substr(0, 30), "shorter than its 64-byte header");
    expectRefused("", "shorter than its 64-byte header");
    expectRefused(whole + "x", "past its end");
}

TEST_F(SaveImageTest, WrongMagicOrVersionIsRefused)
{
    std::string whole = slurp(image);
    std::string bad = whole;
    bad[0] = 'X';
    expectRefused(bad, "wrong magic");
    bad = whole;
    bad[8] = 2;
    expectRefused(bad, "format version 2; this virtmicad reads version 1");
    bad = whole;
    bad[13] = 1;   // an unknown flag bit
    expectRefused(bad, "unknown flags");
}

TEST_F(SaveImageTest, HugeOrInconsistentLengthsAreRefused)
{
    std::string whole = slurp(image);
    std::string bad = whole;
    putU64(bad, 16, ~std::uint64_t(0));   // XML length
    expectRefused(bad, "domain XML length");
    bad = whole;
    putU64(bad, 24, std::uint64_t(1) << 62);   // config.json length
    expectRefused(bad, "section lengths are out of range");
    bad = whole;
    putU64(bad, 48, ~std::uint64_t(0) & ~std::uint64_t(4095));   // memory: would overflow offset + length
    expectRefused(bad, "memory length");
    bad = whole;
    putU64(bad, 48, std::uint64_t(1) << 40);   // plausible, but the file is not that long
    expectRefused(bad, "truncated");
    bad = whole;
    putU64(bad, 40, 0);   // memory offset inside the header
    expectRefused(bad, "memory offset");
    bad = whole;
    putU64(bad, 16, 5000);   // XML longer: the memory would start a page later
    expectRefused(bad, "memory offset");
}

TEST_F(SaveImageTest, ParserAloneBoundsEverything)
{
    std::string whole = slurp(image);
    std::vector<std::uint8_t> header(whole.begin(), whole.begin() + kSaveImageHeaderSize);
    EXPECT_NO_THROW(parseSaveImageHeader(header, whole.size()));
    EXPECT_THROW(parseSaveImageHeader({header.data(), 63}, whole.size()), SaveImageError);
    EXPECT_THROW(parseSaveImageHeader(header, 63), SaveImageError);
    EXPECT_THROW(parseSaveImageHeader(header, ~std::uint64_t(0)), SaveImageError);
}

TEST_F(SaveImageTest, FailedWriteLeavesNothingAndKeepsTheOldImage)
{
    std::string before = slurp(image);
    fs::remove(snap + "/state.json");
    EXPECT_THROW(writeSaveImage(snap, xml, true, image), std::runtime_error);
    EXPECT_EQ(slurp(image), before) << "a failed save replaced the earlier image";
    int files = 0;
    for (auto& e : fs::directory_iterator(dir))
        files += e.is_regular_file();
    EXPECT_EQ(files, 1) << "a temporary file was left behind";

    std::string missing = dir + "/no-such-dir/guest.save";
    try {
        writeSaveImage(snap, xml, true, missing);
        ADD_FAILURE() << "wrote into a directory that does not exist";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
    }
}

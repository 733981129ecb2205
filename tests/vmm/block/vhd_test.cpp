// VhdImage and VhdxImage, opened through openImage(), against qemu-img: images qemu-img
// creates, written by mica with a pattern (random offsets and lengths, partial sectors,
// sequential runs across blocks, discards and zeroes) that an in-memory model gets too;
// then qemu-img check and qemu-img compare against the model must agree. The reverse:
// images qemu-img writes read back the same through mica. And edited images: the
// refusals (differencing images, bad checksums, truncated files, a VHDX log to replay),
// sector bitmaps, a footer lost in a crash.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "BigEndian.h"
#include "Crc32c.h"
#include "DiskImage.h"
#include "Error.h"
#include "LittleEndian.h"

namespace {

using namespace mica;
using namespace mica::block;

std::string run(const std::string& command, int* status = nullptr)
{
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        out.append(buffer, n);
    int rc = ::pclose(pipe);
    if (status)
        *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

// A case: qemu-img's format and options, and mica's type.
struct Format {
    const char* name;
    const char* qemuFormat;
    const char* options;
    ImageType type;
};

const Format kFormats[] = {
    {"VhdFixed", "vpc", "subformat=fixed", ImageType::Vhd},
    {"VhdDynamic", "vpc", "subformat=dynamic", ImageType::Vhd},
    {"VhdForceSize", "vpc", "subformat=dynamic,force_size=on", ImageType::Vhd},  // sized by current size, not CHS
    {"VhdxFixed", "vhdx", "subformat=fixed,block_size=1M", ImageType::Vhdx},
    {"VhdxFixedPresent", "vhdx", "subformat=fixed,block_size=1M,block_state_zero=off", ImageType::Vhdx},
    {"VhdxDynamic", "vhdx", "subformat=dynamic,block_size=1M", ImageType::Vhdx},
    {"VhdxDynamicDefault", "vhdx", "subformat=dynamic", ImageType::Vhdx},
};

class Dir : public ::testing::Test {
protected:
    void SetUp() override
    {
        char name[] = "/tmp/mica-vhd-test.XXXXXX";
        ASSERT_NE(::mkdtemp(name), nullptr);
        dir_ = name;
    }
    void TearDown() override { run("rm -rf " + dir_); }
    std::string dir_;
};

class FormatTest : public Dir, public ::testing::WithParamInterface<Format> {
protected:
    std::string create(const std::string& size)
    {
        std::string path = dir_ + "/image";
        int status;
        std::string out = run(std::string("qemu-img create -q -f ") + GetParam().qemuFormat + " -o " +
                                  GetParam().options + " " + path + " " + size,
                              &status);
        EXPECT_EQ(status, 0) << out;
        return path;
    }
    std::unique_ptr<DiskImage> open(const std::string& path, bool readOnly = false)
    {
        ImageOptions options;
        options.type = GetParam().type;
        options.readOnly = readOnly;
        return openImage(path, options);
    }
    void check(const std::string& path)
    {
        int status;
        std::string out = run(std::string("qemu-img check -f ") + GetParam().qemuFormat + " " + path, &status);
        // qemu-img has no check for VHD ("vpc"): 63, not supported.
        EXPECT_TRUE(status == 0 || (GetParam().type == ImageType::Vhd && status == 63)) << out;
    }
    void compare(const std::string& path, const std::string& raw)
    {
        int status;
        std::string out = run(std::string("qemu-img compare -f ") + GetParam().qemuFormat + " -F raw " + path + " " + raw,
                              &status);
        EXPECT_EQ(status, 0) << out;
    }
};

std::vector<uint8_t> readAll(DiskImage& image)
{
    std::vector<uint8_t> data(image.size());
    image.readv(0, {iovec{data.data(), data.size()}});
    return data;
}

// The pattern: writes at random offsets and lengths (whole and partial sectors, some
// across block boundaries, in two iovecs), a sequential run over several blocks, then
// discards and zeroes of whole blocks and of parts, and writes over some of them again.
// Applied to the image and to `model`, the bytes it must hold.
void applyPattern(DiskImage& image, std::vector<uint8_t>& model, unsigned seed)
{
    std::mt19937_64 random(seed);
    const uint64_t size = image.size();
    auto write = [&](uint64_t offset, uint64_t length) {
        std::vector<uint8_t> data(length);
        for (auto& b : data)
            b = static_cast<uint8_t>(random());
        size_t half = length / 2;
        image.writev(offset, {iovec{data.data(), half}, iovec{data.data() + half, length - half}});
        std::copy(data.begin(), data.end(), model.begin() + static_cast<ptrdiff_t>(offset));
    };
    auto zero = [&](uint64_t offset, uint64_t length, bool discard) {
        if (discard)
            image.discard(offset, length);
        else
            image.writeZeroes(offset, length);
        std::fill_n(model.begin() + static_cast<ptrdiff_t>(offset), length, 0);
    };
    auto randomRange = [&](uint64_t maxLength, bool sectors) {
        uint64_t length = 1 + random() % maxLength;
        uint64_t offset = random() % (size - length + 1);
        if (sectors) {
            offset &= ~uint64_t{511};
            length = std::max<uint64_t>(512, length & ~uint64_t{511});
            length = std::min(length, size - offset);
        }
        return std::pair{offset, length};
    };
    for (int i = 0; i < 40; ++i) {
        auto [offset, length] = randomRange(300000, i % 3 != 0);
        write(offset, length);
    }
    for (uint64_t at = 0; at + 65536 <= std::min<uint64_t>(size, 5 << 20); at += 65536)
        write(at, 65536);
    for (uint64_t block : {uint64_t{1} << 20, uint64_t{2} << 20})
        if (size >= 2 * block)
            zero(block, block, true), zero(0, block, false);
    for (int i = 0; i < 10; ++i) {
        auto [offset, length] = randomRange(3 << 20, i % 2);
        zero(offset, length, i % 4 < 2);
    }
    for (int i = 0; i < 10; ++i) {
        auto [offset, length] = randomRange(100000, false);
        write(offset, length);
    }
    image.flush();
    EXPECT_EQ(readAll(image), model);
}

TEST_P(FormatTest, MicaWritesQemuReads)
{
    std::string path = create("13M");
    std::vector<uint8_t> model;
    {
        auto image = open(path);
        model.assign(image->size(), 0);
        EXPECT_EQ(readAll(*image), model);
        applyPattern(*image, model, 1);
    }
    {
        // Again after a reopen: the metadata written through is what counts.
        auto image = open(path);
        EXPECT_EQ(readAll(*image), model);
        applyPattern(*image, model, 2);
    }
    std::string raw = dir_ + "/model.raw";
    std::ofstream(raw, std::ios::binary).write(reinterpret_cast<const char*>(model.data()),
                                               static_cast<std::streamsize>(model.size()));
    check(path);
    compare(path, raw);
}

TEST_P(FormatTest, QemuWritesMicaReads)
{
    std::string path = create("13M");
    int status;
    std::string out = run("qemu-io -f " + std::string(GetParam().qemuFormat) + " -c 'write -P 0x5a 1000k 3000k' " +
                              "-c 'write -P 0xa5 0 1k' -c 'write -z 2048k 1024k' -c 'write -P 0x33 12m 512' " + path,
                          &status);
    ASSERT_EQ(status, 0) << out;
    std::string raw = dir_ + "/expected.raw";
    out = run("qemu-img convert -f " + std::string(GetParam().qemuFormat) + " -O raw " + path + " " + raw, &status);
    ASSERT_EQ(status, 0) << out;
    auto image = open(path, true);
    std::vector<uint8_t> expected(image->size());
    std::ifstream(raw, std::ios::binary).read(reinterpret_cast<char*>(expected.data()),
                                               static_cast<std::streamsize>(expected.size()));
    EXPECT_EQ(readAll(*image), expected);
    EXPECT_EQ(expected[1000 << 10], 0x5a);
}

TEST_P(FormatTest, ConvertedImageReadsTheSame)
{
    std::vector<uint8_t> data(9 << 20);
    std::mt19937_64 random(3);
    for (size_t i = 0; i < data.size(); i += 4096)
        if (random() % 3 == 0)
            for (size_t j = i; j < i + 4096; ++j)
                data[j] = static_cast<uint8_t>(random());
    std::string raw = dir_ + "/source.raw", path = dir_ + "/image";
    std::ofstream(raw, std::ios::binary).write(reinterpret_cast<const char*>(data.data()),
                                               static_cast<std::streamsize>(data.size()));
    int status;
    std::string out = run(std::string("qemu-img convert -f raw -O ") + GetParam().qemuFormat + " -o " +
                              GetParam().options + " " + raw + " " + path,
                          &status);
    ASSERT_EQ(status, 0) << out;
    auto image = open(path, true);
    ASSERT_GE(image->size(), data.size());
    data.resize(image->size());  // VHD rounds the size up to its CHS geometry
    EXPECT_EQ(readAll(*image), data);
}

TEST_P(FormatTest, SizeIsWhatQemuImgInfoSays)
{
    for (const char* size : {"5M", "100M", "1000000000", "3G"}) {
        std::string path = create(size);
        int status;
        std::string out = run(std::string("qemu-img info -f ") + GetParam().qemuFormat + " --output=json " + path, &status);
        ASSERT_EQ(status, 0) << out;
        auto at = out.rfind("\"virtual-size\": ");  // the image's, after its file's
        ASSERT_NE(at, std::string::npos) << out;
        uint64_t expected = std::stoull(out.substr(at + 16));
        EXPECT_EQ(readImageInfo(path, GetParam().type).virtualSize, expected) << size;
        EXPECT_EQ(open(path, true)->size(), expected) << size;
        ::unlink(path.c_str());
    }
}

// Requests from several queue threads at once, each on its own range, allocating blocks
// side by side.
TEST_P(FormatTest, ConcurrentWriters)
{
    std::string path = create("13M");
    auto image = open(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            std::vector<uint8_t> data(64 << 10, static_cast<uint8_t>(t + 1));
            for (uint64_t at = 0; at < (3 << 20); at += data.size())
                image->writev(uint64_t(t) * (3 << 20) + at, {iovec{data.data(), data.size()}});
        });
    for (auto& thread : threads)
        thread.join();
    auto all = readAll(*image);
    for (uint64_t i = 0; i < (12u << 20); i += 4096)
        ASSERT_EQ(all[i], i / (3 << 20) + 1) << i;
    image.reset();
    check(path);
}

INSTANTIATE_TEST_SUITE_P(Formats, FormatTest, ::testing::ValuesIn(kFormats),
                         [](const auto& info) { return std::string(info.param.name); });

// Images qemu-img made that a test then edits: mostly damages, to be refused.
class EditedImage : public Dir {
protected:
    std::string create(const std::string& format, const std::string& options, const std::string& size = "8M")
    {
        std::string path = dir_ + "/image";
        int status;
        std::string out = run("qemu-img create -q -f " + format + " -o " + options + " " + path + " " + size, &status);
        EXPECT_EQ(status, 0) << out;
        return path;
    }
    static void patch(const std::string& path, uint64_t offset, const void* data, size_t length)
    {
        int fd = ::open(path.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, data, length, static_cast<off_t>(offset)), static_cast<ssize_t>(length));
        ::close(fd);
    }
    static std::vector<uint8_t> peek(const std::string& path, uint64_t offset, size_t length)
    {
        std::vector<uint8_t> data(length);
        int fd = ::open(path.c_str(), O_RDONLY);
        EXPECT_EQ(::pread(fd, data.data(), length, static_cast<off_t>(offset)), static_cast<ssize_t>(length));
        ::close(fd);
        return data;
    }
    static uint64_t fileSize(const std::string& path)
    {
        std::ifstream f(path, std::ios::binary | std::ios::ate);
        return static_cast<uint64_t>(f.tellg());
    }
    // The error opening `path` as `type`, read-write; "" when it opens.
    static std::string openError(const std::string& path, ImageType type, bool readOnly = false)
    {
        ImageOptions options;
        options.type = type;
        options.readOnly = readOnly;
        try {
            openImage(path, options);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    // Rewrites a VHD footer's field and its checksum, at `offset`.
    static void patchVhdFooter(const std::string& path, uint64_t offset, size_t field, uint32_t value)
    {
        auto footer = peek(path, offset, 512);
        storeBe<uint32_t>(footer.data() + field, value);
        storeBe<uint32_t>(footer.data() + 64, 0);
        uint32_t sum = 0;
        for (uint8_t b : footer)
            sum += b;
        storeBe<uint32_t>(footer.data() + 64, ~sum);
        patch(path, offset, footer.data(), footer.size());
    }
};

TEST_F(EditedImage, VhdDifferencing)
{
    std::string path = create("vpc", "subformat=dynamic");
    patchVhdFooter(path, 0, 60, 4);
    patchVhdFooter(path, fileSize(path) - 512, 60, 4);
    EXPECT_NE(openError(path, ImageType::Vhd).find("vhd: differencing disks"), std::string::npos);
    EXPECT_THROW(readImageInfo(path, ImageType::Vhd), Error);
}

TEST_F(EditedImage, VhdBadChecksum)
{
    for (const char* subformat : {"subformat=fixed", "subformat=dynamic"}) {
        std::string path = create("vpc", subformat);
        uint64_t end = fileSize(path) - 512;
        uint8_t byte = peek(path, end + 40, 1)[0] ^ 1;
        patch(path, end + 40, &byte, 1);
        patch(path, 40, &byte, 1);  // the dynamic disk's copy too
        std::string error = openError(path, ImageType::Vhd);
        EXPECT_NE(error.find(path + ": vhd: the footer's checksum is wrong"), std::string::npos) << error;
        ::unlink(path.c_str());
    }
}

TEST_F(EditedImage, VhdDynamicHeaderChecksum)
{
    std::string path = create("vpc", "subformat=dynamic");
    uint8_t byte = 0x7f;
    patch(path, 512 + 100, &byte, 1);
    EXPECT_NE(openError(path, ImageType::Vhd).find("checksum"), std::string::npos);
}

TEST_F(EditedImage, VhdTruncated)
{
    std::string path = create("vpc", "subformat=fixed");
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(fileSize(path) - 4096)), 0);
    EXPECT_NE(openError(path, ImageType::Vhd, true), "");
    // A dynamic disk with a block, cut inside the block.
    ::unlink(path.c_str());
    path = create("vpc", "subformat=dynamic");
    int status;
    run("qemu-io -f vpc -c 'write -P 1 0 4k' " + path, &status);
    ASSERT_EQ(status, 0);
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(fileSize(path) - (1 << 20))), 0);
    std::string error = openError(path, ImageType::Vhd, true);
    EXPECT_NE(error.find("past the end of the file"), std::string::npos) << error;
}

// A block whose bitmap marks sectors unwritten (as Hyper-V leaves them; qemu-img marks
// every sector of a block it allocates): those read as zeroes whatever the file holds,
// and a write into part of one zeroes the rest of that sector.
TEST_F(EditedImage, VhdSectorBitmap)
{
    std::string path = create("vpc", "subformat=dynamic");
    int status;
    std::string out = run("qemu-io -f vpc -c 'write -P 0x77 0 8k' " + path, &status);
    ASSERT_EQ(status, 0) << out;
    // The first block's bitmap: right after the BAT, at 1536 + 512 (qemu-img's layout).
    auto bat = peek(path, 1536, 4);
    uint64_t bitmapAt = uint64_t{loadBe<uint32_t>(bat.data())} * 512;
    uint8_t bits = 0x5f;  // sectors 0 and 2 unwritten
    patch(path, bitmapAt, &bits, 1);
    ImageOptions options;
    options.type = ImageType::Vhd;
    auto image = openImage(path, options);
    std::vector<uint8_t> data(4096);
    image->readv(0, {iovec{data.data(), data.size()}});
    for (size_t i = 0; i < data.size(); ++i)
        ASSERT_EQ(data[i], i / 512 == 0 || i / 512 == 2 ? 0 : 0x77) << i;
    uint8_t one = 0x99;
    image->writev(1024 + 100, {iovec{&one, 1}});
    image->readv(0, {iovec{data.data(), data.size()}});
    for (size_t i = 0; i < data.size(); ++i)
        ASSERT_EQ(data[i], i == 1124 ? 0x99 : i / 512 == 0 || i / 512 == 2 ? 0 : 0x77) << i;
    EXPECT_EQ(peek(path, bitmapAt, 1)[0], 0x7f);  // sector 2 now written
}

// A dynamic disk whose writer stopped after a new block, before the footer after it: the
// copy at offset 0 stands in, and the next writer puts a footer back at the end.
TEST_F(EditedImage, VhdDynamicWithoutEndFooter)
{
    std::string path = create("vpc", "subformat=dynamic");
    int status;
    run("qemu-io -f vpc -c 'write -P 0x11 0 4k' " + path, &status);
    ASSERT_EQ(status, 0);
    std::vector<uint8_t> torn(3000, 0xee);
    patch(path, fileSize(path), torn.data(), torn.size());
    ImageOptions options;
    options.type = ImageType::Vhd;
    uint64_t size;
    {
        auto image = openImage(path, options);
        size = image->size();
        std::vector<uint8_t> data(4096, 0x22);
        image->writev(3 << 20, {iovec{data.data(), data.size()}});
    }
    EXPECT_EQ(peek(path, fileSize(path) - 512, 8), peek(path, 0, 8));  // "conectix" at the end again
    std::string out = run("qemu-io -f vpc -c 'read -P 0x11 0 4k' -c 'read -P 0x22 3M 4k' " + path, &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
    options.readOnly = true;
    EXPECT_EQ(openImage(path, options)->size(), size);
}

TEST_F(EditedImage, VhdxBadChecksums)
{
    std::string path = create("vhdx", "subformat=dynamic");
    uint8_t byte = 0x42;
    patch(path, (64 << 10) + 100, &byte, 1);
    EXPECT_EQ(openError(path, ImageType::Vhdx, true), "");  // the other header is still good
    patch(path, (128 << 10) + 100, &byte, 1);
    std::string error = openError(path, ImageType::Vhdx);
    EXPECT_NE(error.find("vhdx: neither header is valid"), std::string::npos) << error;

    path = dir_ + "/regions";
    run("qemu-img create -q -f vhdx " + path + " 8M");
    patch(path, (192 << 10) + 200, &byte, 1);
    patch(path, (256 << 10) + 200, &byte, 1);
    error = openError(path, ImageType::Vhdx);
    EXPECT_NE(error.find("vhdx: neither region table is valid"), std::string::npos) << error;
}

TEST_F(EditedImage, VhdxDifferencing)
{
    std::string path = create("vhdx", "subformat=dynamic");
    // The file parameters item: find its entry in the metadata table, set HasParent.
    auto regions = peek(path, 192 << 10, 4096);
    uint64_t metadataAt = 0;
    for (int i = 0; i < 2; ++i)
        if (regions[16 + 32 * i] == 0x06)  // 8B7CA206-...: the metadata region
            metadataAt = loadLe<uint64_t>(regions.data() + 16 + 32 * i + 16);
    ASSERT_NE(metadataAt, 0u);
    auto table = peek(path, metadataAt, 4096);
    for (int i = 0; i < loadLe<uint16_t>(table.data() + 10); ++i) {
        const uint8_t* e = table.data() + 32 + 32 * i;
        if (e[0] == 0x37 && e[1] == 0x67 && e[2] == 0xa1 && e[3] == 0xca) {  // CAA16737-...
            uint8_t flags = 2;
            patch(path, metadataAt + loadLe<uint32_t>(e + 16) + 4, &flags, 1);
        }
    }
    std::string error = openError(path, ImageType::Vhdx);
    EXPECT_NE(error.find("vhdx: differencing images"), std::string::npos) << error;
}

TEST_F(EditedImage, VhdxLogToReplay)
{
    std::string path = create("vhdx", "subformat=dynamic");
    // Both headers name a log (as a writer that stopped mid-update leaves them).
    for (uint64_t at : {64 << 10, 128 << 10}) {
        auto header = peek(path, at, 4096);
        header[48] = 1;
        storeLe<uint32_t>(header.data() + 4, 0);
        storeLe<uint32_t>(header.data() + 4, crc32c(header.data(), header.size()));
        patch(path, at, header.data(), header.size());
    }
    std::string error = openError(path, ImageType::Vhdx);
    EXPECT_NE(error.find("qemu-img check -r all"), std::string::npos) << error;
}

TEST_F(EditedImage, VhdxTruncated)
{
    // Blocks fully present (qemu-img's fixed images are otherwise ZERO blocks, no offset).
    std::string path = create("vhdx", "subformat=fixed,block_size=1M,block_state_zero=off");
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(fileSize(path) / 2)), 0);
    std::string error = openError(path, ImageType::Vhdx, true);
    EXPECT_NE(error.find("past the end of the file"), std::string::npos) << error;
    ASSERT_EQ(::truncate(path.c_str(), 100 << 10), 0);
    EXPECT_NE(openError(path, ImageType::Vhdx, true), "");
}

// Past 4 GiB of 1 MiB blocks and 512-byte sectors the BAT holds a sector bitmap entry
// after every 4096 payload entries: mica and qemu-io must find the same blocks there.
TEST_F(EditedImage, VhdxBatInterleaving)
{
    std::string path = create("vhdx", "subformat=dynamic,block_size=1M", "6G");
    const uint64_t fourGiB = uint64_t{4} << 30;
    {
        ImageOptions options;
        options.type = ImageType::Vhdx;
        auto image = openImage(path, options);
        std::vector<uint8_t> data(8192, 0x61);
        image->writev(fourGiB - 4096, {iovec{data.data(), data.size()}});  // the last block of a chunk and the next
        image->writev(fourGiB + (1 << 20) + 100, {iovec{data.data(), data.size()}});
    }
    int status;
    std::string out = run("qemu-io -f vhdx -c 'read -P 0x61 " + std::to_string(fourGiB - 4096) + " 8192' -c 'read -P 0x61 " +
                              std::to_string(fourGiB + (1 << 20) + 100) + " 8192' -c 'read -P 0 " +
                              std::to_string(fourGiB + 4096) + " 4096' -c 'write -P 0x62 5G 4096' " + path,
                          &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
    out = run("qemu-img check -f vhdx " + path, &status);
    EXPECT_EQ(status, 0) << out;
    ImageOptions options;
    options.type = ImageType::Vhdx;
    options.readOnly = true;
    auto image = openImage(path, options);
    std::vector<uint8_t> data(4096);
    image->readv(uint64_t{5} << 30, {iovec{data.data(), data.size()}});
    EXPECT_EQ(data, std::vector<uint8_t>(4096, 0x62));
}

TEST(Crc32c, KnownValue)
{
    EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
}

}  // namespace

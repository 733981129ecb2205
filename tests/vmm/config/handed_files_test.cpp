// VmConfig's handed_files: files the caller opened for the VMM, named by path.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "Error.h"
#include "RawImage.h"
#include "VmConfigJson.h"

using namespace mica;
using nlohmann::json;

namespace {

std::vector<UniqueFd> openFds(const std::vector<std::pair<std::string, int>>& files)
{
    std::vector<UniqueFd> fds;
    for (const auto& [path, flags] : files)
        fds.emplace_back(::open(path.c_str(), flags | O_CLOEXEC));
    return fds;
}

std::string errorOf(const json& config, std::vector<UniqueFd> fds)
{
    try {
        vmConfigFromJson(config, std::move(fds));
    } catch (const Error& e) {
        return e.what();
    }
    return "(accepted)";
}

class HandedFiles : public ::testing::Test {
protected:
    void SetUp() override
    {
        char dir[] = "/tmp/mica-handed-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        dir_ = dir;
        image_ = dir_ + "/disk.raw";
        UniqueFd f(::open(image_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_EQ(::ftruncate(f.get(), 1 << 20), 0);
        ASSERT_EQ(::pwrite(f.get(), "mica", 4, 512), 4);
    }
    void TearDown() override
    {
        ::unlink(image_.c_str());
        ::rmdir(dir_.c_str());
    }
    json config(const json& handed) const
    {
        return {{"payload", {{"kernel", "/k"}}}, {"disks", {{{"path", image_}}}}, {"handed_files", handed}};
    }
    std::string dir_, image_;
};

}  // namespace

TEST_F(HandedFiles, NamedFilesAreKeptAndRoundTrip)
{
    auto c = vmConfigFromJson(config({{image_, 0u}}), openFds({{image_, O_RDWR}}));
    ASSERT_EQ(c.handedFiles.size(), 1u);
    EXPECT_EQ(c.handedFiles.at(image_), 0u);
    EXPECT_EQ(vmConfigToJson(c)["handed_files"], json({{image_, 0u}}));
    // A path nobody handed is opened by whoever needs it: no fd.
    EXPECT_FALSE(c.handedFile("/k"));
    EXPECT_TRUE(c.handedFile(image_));
}

TEST_F(HandedFiles, BadIndexesAreRefusedByName)
{
    EXPECT_NE(errorOf(config({{image_, 1u}}), openFds({{image_, O_RDWR}})).find("handed_files[\"" + image_ + "\"]: fd index 1"),
              std::string::npos);
    EXPECT_NE(errorOf(config({{image_, "zero"}}), {}).find("expected an fd index"), std::string::npos);
    EXPECT_NE(errorOf(config(json::array()), {}).find("handed_files: expected an object"), std::string::npos);
    // One fd cannot serve two files.
    json two = config({{image_, 0u}, {"/k", 0u}});
    EXPECT_NE(errorOf(two, openFds({{image_, O_RDWR}})).find("named twice"), std::string::npos);
}

TEST_F(HandedFiles, ImageUsesTheHandedFdNotThePath)
{
    auto c = vmConfigFromJson(config({{image_, 0u}}), openFds({{image_, O_RDWR}}));
    // The path is gone (or unreachable to this uid): the handed file still serves.
    ASSERT_EQ(::unlink(image_.c_str()), 0);
    block::RawImage image(image_, false, false, false, c.handedFile(image_));
    EXPECT_EQ(image.size(), 1u << 20);
    char buffer[4] = {};
    iovec iov{buffer, sizeof buffer};
    image.readv(512, {iov});
    EXPECT_EQ(std::string(buffer, 4), "mica");
}

TEST_F(HandedFiles, WritableDiskRefusesAReadOnlyHandedFd)
{
    auto c = vmConfigFromJson(config({{image_, 0u}}), openFds({{image_, O_RDONLY}}));
    try {
        block::RawImage image(image_, false, false, false, c.handedFile(image_));
        FAIL() << "a writable disk took a read-only fd";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(image_ + ": the file handed over is not open for writing"), std::string::npos)
            << e.what();
    }
    block::RawImage readOnly(image_, true, false, false, c.handedFile(image_));
    EXPECT_TRUE(readOnly.readOnly());
}

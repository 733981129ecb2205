// Helpers for capabilities tests: the fixture hosts of tests/data/domcaps and scratch
// copies of them a test may change.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace mica::caps::test {

inline std::string sourceDir()
{
    const char* s = std::getenv("MICA_SOURCE_DIR");
    return s ? s : MICA_TEST_SOURCE_DIR;
}

inline std::string fixture(const std::string& host)
{
    return sourceDir() + "/tests/data/domcaps/" + host;
}

inline std::string fakeVmm()
{
    return sourceDir() + "/tests/capabilities/fake-vmm";
}

inline std::string readText(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void writeText(const std::string& path, const std::string& text)
{
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
}

// A scratch copy of a fixture host, removed when the test ends.
class ScratchHost {
public:
    explicit ScratchHost(const std::string& host)
    {
        char tmpl[] = "/tmp/mica-caps-test.XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        if (!host.empty())
            std::filesystem::copy(fixture(host), dir_, std::filesystem::copy_options::recursive);
    }
    ~ScratchHost()
    {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    ScratchHost(const ScratchHost&) = delete;
    ScratchHost& operator=(const ScratchHost&) = delete;
    const std::string& dir() const { return dir_; }
    std::string path(const std::string& abs) const { return dir_ + abs; }

private:
    std::string dir_;
};

}  // namespace mica::caps::test

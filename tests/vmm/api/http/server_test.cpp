// The API server over a real unix socket: routing, errors, and staying up after bad
// clients.
#include "Router.h"
#include "Server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

using namespace mica::http;

namespace {

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char dir[] = "/tmp/mica-http-test.XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        dir_ = dir;
        path_ = dir_ + "/api.sock";
        router_.add("GET", "/api/v1/vmm.ping", [](const Request&) { return Response{200, "application/json", "{\"pong\":true}"}; });
        router_.add("PUT", "/api/v1/echo", [](const Request& r) { return Response{200, "application/json", r.body}; });
        ServerOptions options;
        options.limits.maxBodyBytes = 1024;
        options.idleTimeoutMs = 300;
        server_ = std::make_unique<Server>(Server::listenUnix(path_), [this](const Request& r) { return router_.dispatch(r); },
                                           options);
        thread_ = std::thread([this] { server_->run(); });
    }

    void TearDown() override
    {
        server_->stop();
        thread_.join();
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }

    mica::UniqueFd connect()
    {
        mica::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path_.c_str());
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        return fd;
    }

    // Sends raw bytes, then reads until the server closes or a full response arrived.
    std::string exchange(int fd, const std::string& bytes, bool expectClose)
    {
        EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
        std::string out;
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0)
                break;
            out.append(buf, static_cast<std::size_t>(n));
            std::size_t head = out.find("\r\n\r\n");
            std::size_t lengthAt = out.find("Content-Length: ");
            if (!expectClose && head != std::string::npos && lengthAt != std::string::npos &&
                out.size() >= head + 4 + std::stoul(out.substr(lengthAt + 16)))
                break;
        }
        return out;
    }

    std::string dir_, path_;
    Router router_;
    std::unique_ptr<Server> server_;
    std::thread thread_;
};

}  // namespace

TEST_F(ServerTest, AnswersSeveralRequestsOnOneConnection)
{
    auto fd = connect();
    EXPECT_NE(exchange(fd.get(), "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", false).find("{\"pong\":true}"), std::string::npos);
    auto echo = exchange(fd.get(), "PUT /api/v1/echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", false);
    EXPECT_EQ(echo.substr(0, 15), "HTTP/1.1 200 OK");
    EXPECT_NE(echo.find("\r\n\r\nhello"), std::string::npos);
}

TEST_F(ServerTest, RefusesBadRequestsAndKeepsServing)
{
    struct Case {
        std::string request;
        std::string statusLine;
    } cases[] = {
        {"GET /api/v1/nothing HTTP/1.1\r\n\r\n", "HTTP/1.1 404"},
        {"PUT /api/v1/vmm.ping HTTP/1.1\r\n\r\n", "HTTP/1.1 405"},
        {"PUT /api/v1/echo HTTP/1.1\r\nContent-Length: 4096\r\n\r\n", "HTTP/1.1 413"},
        {"\x01\x02garbage\r\n\r\n", "HTTP/1.1 400"},
    };
    for (const auto& c : cases) {
        auto fd = connect();
        auto reply = exchange(fd.get(), c.request, c.statusLine != "HTTP/1.1 404" && c.statusLine != "HTTP/1.1 405");
        EXPECT_EQ(reply.substr(0, c.statusLine.size()), c.statusLine) << reply;
        EXPECT_NE(reply.find("{\"error\":"), std::string::npos) << reply;
    }
    auto fd = connect();
    EXPECT_NE(exchange(fd.get(), "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", false).find("pong"), std::string::npos);
}

TEST_F(ServerTest, DropsATruncatedRequestAfterTheIdleTimeout)
{
    auto stalled = connect();
    auto reply = exchange(stalled.get(), "PUT /api/v1/echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nhal", true);
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 408") << reply;
    auto fd = connect();
    EXPECT_NE(exchange(fd.get(), "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", false).find("pong"), std::string::npos);
}

// The fixture of the server tests over real unix sockets: a Server with the remote
// program on its own event-loop thread, a read-write socket and optionally a read-only
// one, and the client side's socket calls.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "Listeners.h"
#include "RemoteProgram.h"
#include "Server.h"
#include "TestClient.h"

namespace mica::rpc::test {

class ServerFixture : public ::testing::Test {
protected:
    // The read-write socket is rw_; with readOnlySocket, ro_ is the read-only one.
    void start(const ServerOptions& options, bool readOnlySocket = false)
    {
        dir_ = std::filesystem::temp_directory_path() / ("mica-server-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        rw_ = (dir_ / "sock").string();
        ro_ = (dir_ / "sock-ro").string();
        driver::registerRemoteProgram(dispatcher_, ctx_);
        server_ = std::make_unique<Server>(loop_, dispatcher_, options);
        server_->addListener(driver::bindUnixSocket(rw_, 0600), false);
        if (readOnlySocket)
            server_->addListener(driver::bindUnixSocket(ro_, 0666), true);
        loop_.setTick(50, [this] { server_->tick(); });
        thread_ = std::thread([this] { loop_.run(); });
    }
    void TearDown() override
    {
        if (thread_.joinable()) {
            loop_.post([this] { loop_.quit(); });
            thread_.join();
        }
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    // Runs f on the server's loop thread and returns what it returns.
    template <typename F>
    auto onLoop(F f)
    {
        std::promise<decltype(f())> p;
        loop_.post([&] { p.set_value(f()); });
        return p.get_future().get();
    }

    static UniqueFd connect(const std::string& path)
    {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        timeval tv{10, 0};   // a hung test fails instead of hanging
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return fd;
    }
    static bool sendAll(int fd, const std::vector<std::uint8_t>& bytes)
    {
        for (std::size_t at = 0; at < bytes.size();) {
            ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            at += static_cast<std::size_t>(n);
        }
        return true;
    }
    // The next whole packet, or nothing when the server closed the connection.
    static std::optional<Packet> receive(int fd, PacketReader& reader)
    {
        for (;;) {
            if (auto p = reader.next())
                return p;
            std::uint8_t buf[4096];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                return std::nullopt;
            reader.append({buf, static_cast<std::size_t>(n)});
        }
    }
    static std::vector<std::uint8_t> connectOpenArgs()
    {
        XdrEncoder e;
        e.putOptionalString(std::string("mica:///system"));
        e.putU32(0);
        return e.bytes();
    }

    std::filesystem::path dir_;
    std::string rw_, ro_;
    driver::EmptyDomainTable domains_;
    driver::HostInfo host_;
    driver::RemoteProgramContext ctx_{driver::DaemonMode::System, domains_, host_, {}};
    Dispatcher dispatcher_;
    EventLoop loop_;
    std::unique_ptr<Server> server_;
    std::thread thread_;
};

}  // namespace mica::rpc::test

// The API server over a real unix socket: routing, errors, and staying up after bad
// clients.
#include "ReceivedFds.h"
#include "Router.h"
#include "Server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

using namespace mica::http;

namespace {

// This process's open fds (the server runs in it, so what it receives shows here).
size_t openFds()
{
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char dir[] = "/tmp/mica-http-test.XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        dir_ = dir;
        path_ = dir_ + "/api.sock";
        router_.add("GET", "/api/v1/vmm.ping", [](Request&) { return Response{200, "application/json", "{\"pong\":true}"}; });
        router_.add("PUT", "/api/v1/echo", [](Request& r) { return Response{200, "application/json", r.body}; });
        // Keeps the first fd that came with the request, as vm.create keeps a TAP's.
        router_.add("PUT", "/api/v1/keep", [this](Request& r) {
            std::string count = std::to_string(r.fds.size());
            if (!r.fds.empty())
                kept_ = std::move(r.fds[0]);
            return Response{200, "application/json", count};
        });
        ServerOptions options;
        options.limits.maxBodyBytes = 1024;
        options.requestTimeoutMs = 300;
        options.writeTimeoutMs = 300;
        options.maxConnections = 4;
        server_ = std::make_unique<Server>(Server::listenUnix(path_), [this](Request& r) { return router_.dispatch(r); },
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
    // Nothing to send: only reads (a server that already answered and closed would make
    // even an empty send fail with EPIPE).
    std::string exchange(int fd, const std::string& bytes, bool expectClose)
    {
        if (!bytes.empty()) {
            EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
        }
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

    // Sends bytes with fds attached (SCM_RIGHTS), as virtmicad sends vm.create.
    void sendWithFds(int fd, const std::string& bytes, const std::vector<int>& fds)
    {
        iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
        std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        ASSERT_EQ(::sendmsg(fd, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    }

    // `count` pipe ends, opened here; the caller closes them once sent.
    static std::vector<mica::UniqueFd> pipes(size_t count)
    {
        std::vector<mica::UniqueFd> out;
        while (out.size() < count) {
            int p[2];
            EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
            out.emplace_back(p[0]);
            out.emplace_back(p[1]);
        }
        out.resize(count);
        return out;
    }
    static std::vector<int> numbers(const std::vector<mica::UniqueFd>& fds)
    {
        std::vector<int> out;
        for (const auto& fd : fds)
            out.push_back(fd.get());
        return out;
    }

    std::string dir_, path_;
    mica::UniqueFd kept_;
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

TEST_F(ServerTest, DropsAConnectionThatSendsNothing)
{
    auto idle = connect();
    auto reply = exchange(idle.get(), "", true);
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 408") << reply;
}

// The deadline is for the whole request: a byte every 100 ms (a third of the timeout)
// would keep a per-read timeout from ever firing, and would finish the request in 20 s.
TEST_F(ServerTest, ATrickleDoesNotExtendTheDeadline)
{
    auto slow = connect();
    std::string request = "PUT /api/v1/echo HTTP/1.1\r\nContent-Length: 150\r\n\r\n" + std::string(150, 'x');
    size_t sent = 0;
    for (; sent < request.size(); ++sent) {
        if (::send(slow.get(), &request[sent], 1, MSG_NOSIGNAL) != 1)
            break;   // closed by the server
        pollfd pfd{slow.get(), POLLIN, 0};
        if (::poll(&pfd, 1, 100) > 0)
            break;   // its answer came
    }
    auto reply = exchange(slow.get(), "", true);
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 408") << reply;
    EXPECT_GT(sent, 1u);
    EXPECT_LT(sent, request.size());
}

// A client that sends requests and never reads: the server stops reading it once its
// reply does not fit, and drops it when the reply is late; others are served meanwhile.
TEST_F(ServerTest, DropsAClientThatNeverReads)
{
    auto greedy = connect();
    ASSERT_EQ(::fcntl(greedy.get(), F_SETFL, O_NONBLOCK), 0);
    const std::string ping = "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n";
    size_t requests = 0;
    for (int stuck = 0; stuck < 20;) {
        if (::send(greedy.get(), ping.data(), ping.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(ping.size())) {
            ++requests;
            stuck = 0;
        } else if (errno != EAGAIN) {
            break;   // dropped already (EPIPE): a slow machine took longer than the deadline
        } else {
            ++stuck;
            ::usleep(10000);
        }
    }
    auto fd = connect();
    EXPECT_NE(exchange(fd.get(), ping, false).find("pong"), std::string::npos);
    pollfd pfd{greedy.get(), POLLHUP, 0};
    ASSERT_EQ(::poll(&pfd, 1, 60000), 1);
    std::string got;
    char buf[65536];
    for (ssize_t n; (n = ::recv(greedy.get(), buf, sizeof buf, 0)) > 0;)
        got.append(buf, static_cast<size_t>(n));
    size_t replies = 0;
    for (size_t at = 0; (at = got.find("HTTP/1.1 200", at)) != std::string::npos; ++at)
        ++replies;
    EXPECT_LT(replies, requests);
}

// With every slot taken by clients that send nothing, a new one is still served: the
// most overdue connection makes room (503).
TEST_F(ServerTest, ANewConnectionPushesOutTheMostOverdue)
{
    std::vector<mica::UniqueFd> idle;
    for (int i = 0; i < 4; ++i)
        idle.push_back(connect());
    auto fd = connect();
    EXPECT_NE(exchange(fd.get(), "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", false).find("pong"), std::string::npos);
    auto first = exchange(idle[0].get(), "", true);
    EXPECT_EQ(first.substr(0, 12), "HTTP/1.1 503") << first;
    EXPECT_NE(first.find("too many API connections"), std::string::npos) << first;
}

TEST_F(ServerTest, HandsFdsToTheHandlerAndClosesTheOnesItDoesNotKeep)
{
    auto fd = connect();
    // Once it answers, the server has accepted: its end is in the count from here on.
    EXPECT_NE(exchange(fd.get(), "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", false).find("pong"), std::string::npos);
    size_t before = openFds();
    {
        auto sent = pipes(3);
        sendWithFds(fd.get(), "PUT /api/v1/keep HTTP/1.1\r\nContent-Length: 0\r\n\r\n", numbers(sent));
        auto reply = exchange(fd.get(), "", false);
        EXPECT_EQ(reply.substr(0, 15), "HTTP/1.1 200 OK") << reply;
        EXPECT_NE(reply.find("\r\n\r\n3"), std::string::npos) << reply;
    }
    // Ours are closed; of the server's three copies only the kept one is open.
    EXPECT_EQ(openFds(), before + 1);
    kept_.reset();
    EXPECT_EQ(openFds(), before);

    // Fds sent with a request whose handler takes none all close too, and the largest
    // allowed number is accepted.
    {
        auto sent = pipes(kMaxRequestFds);
        sendWithFds(fd.get(), "PUT /api/v1/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", numbers(sent));
        EXPECT_EQ(exchange(fd.get(), "", false).substr(0, 15), "HTTP/1.1 200 OK");
    }
    EXPECT_EQ(openFds(), before);
}

TEST_F(ServerTest, RefusesMoreFdsThanTheLimitAndClosesThem)
{
    size_t before = openFds();
    {
        auto fd = connect();
        auto sent = pipes(kMaxRequestFds + 1);
        sendWithFds(fd.get(), "PUT /api/v1/keep HTTP/1.1\r\nContent-Length: 0\r\n\r\n", numbers(sent));
        auto reply = exchange(fd.get(), "", true);
        EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 400") << reply;
        EXPECT_NE(reply.find("at most " + std::to_string(kMaxRequestFds)), std::string::npos) << reply;
    }
    EXPECT_FALSE(kept_);
    EXPECT_EQ(openFds(), before);
    auto fd = connect();
    EXPECT_NE(exchange(fd.get(), "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", false).find("pong"), std::string::npos);
}

// A control message other than SCM_RIGHTS cannot reach the server on a unix socket
// without SO_PASSCRED, so the check is fed a message built by hand: it is refused, and
// the fds beside it are closed all the same.
TEST(ReceivedFds, RefusesAnotherControlMessageAndClosesTheFds)
{
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[1]);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(ucred))] = {};
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    c = CMSG_NXTHDR(&msg, c);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(ucred));
    try {
        takeReceivedFds(msg);
        ADD_FAILURE() << "accepted SCM_CREDENTIALS";
    } catch (const BadControlMessage& e) {
        EXPECT_NE(std::string(e.what()).find("only SCM_RIGHTS"), std::string::npos) << e.what();
    }
    EXPECT_EQ(::fcntl(p[0], F_GETFD), -1);   // closed
    EXPECT_EQ(errno, EBADF);
}

TEST(ReceivedFds, RefusesTruncatedControlData)
{
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[1]);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    msg.msg_flags = MSG_CTRUNC;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    EXPECT_THROW(takeReceivedFds(msg), BadControlMessage);
    EXPECT_EQ(::fcntl(p[0], F_GETFD), -1);
}

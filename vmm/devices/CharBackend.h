// Where a serial port or console sends its output and gets its input:
// off, tty (this process's stdin/stdout), file=PATH (output only), pty (a new
// pseudo-terminal, its path printed), socket=PATH (a unix socket server, one client).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "EventLoop.h"
#include "UniqueFd.h"

namespace mica {

struct CharBackendConfig {
    enum class Kind { Off, Tty, File, Pty, Socket } kind = Kind::Tty;
    std::string path;  // file and socket
};

// Parses "off", "tty", "pty", "file=PATH", "socket=PATH"; throws Error naming `what`.
CharBackendConfig parseCharBackend(const std::string& value, const std::string& what);

class CharBackend {
public:
    using InputHandler = std::function<void(std::span<const uint8_t>)>;
    // Opens the backend now (creates the pty or socket) so errors come before boot.
    explicit CharBackend(const CharBackendConfig&, const std::string& name);
    ~CharBackend();

    // Guest output. Never blocks on a slow or absent reader of a pty or socket: bytes
    // that do not fit are dropped, as a UART with no cable would.
    void write(std::span<const uint8_t> bytes);
    void attach(EventLoop& loop, InputHandler onInput);
    // The pty's path, or the socket's; empty otherwise.
    const std::string& path() const { return path_; }

private:
    void acceptClient();
    void readFrom(int fd);
    CharBackendConfig config_;
    std::string name_;
    std::string path_;
    UniqueFd out_;        // tty: stdout; file; pty master
    UniqueFd in_;         // tty: stdin; pty master (dup)
    UniqueFd ptySlave_;   // kept open so the master never reads EIO between clients
    UniqueFd listener_;   // socket
    std::mutex clientMutex_;
    UniqueFd client_;     // socket: the connected client, both directions
    EventLoop* loop_ = nullptr;
    InputHandler onInput_;
    bool ttyRaw_ = false;
};

}  // namespace mica

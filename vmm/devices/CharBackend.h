// Where a serial port or console sends its output and gets its input:
// off, tty (this process's stdin/stdout), file=PATH (output only), pty (a new
// pseudo-terminal, its path printed), socket=PATH (a unix socket server, one client).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

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
    using DrainHandler = std::function<void()>;
    // Opens the backend now (creates the pty or socket) so errors come before boot.
    // `opened`: for a file backend, the caller's fd on its path (VmConfig::handedFile),
    // used instead of opening it; for a socket backend, the caller's socket listening on
    // its path.
    CharBackend(const CharBackendConfig&, const std::string& name, UniqueFd opened = UniqueFd());
    ~CharBackend();

    // Guest output, in order, and never lost while someone reads it. What a slow reader
    // of the pty or socket cannot take yet waits here (busy() is true) and goes out from
    // the loop's thread as the reader makes room; the device holds its guest back
    // meanwhile (the 8250 keeps THRE clear), as a UART waits for its line. Never blocks
    // on a pty or socket; a file or a blocking stdout simply blocks the caller.
    // Output is discarded only when nobody is there to read it, as a UART with no cable
    // loses it: no socket client, nobody holding the pty's other end, a reader gone
    // (EPIPE, EIO); and beyond kMaxPending waiting bytes, which only a guest that ignores
    // busy() reaches (the virtio console has no backpressure yet).
    void write(std::span<const uint8_t> bytes);
    // True while output waits for a slow reader.
    bool busy();
    // `onDrained` runs on the loop's thread each time waiting output has all gone out
    // (or was discarded because its reader left): the device's transmitter is free.
    void attach(EventLoop& loop, InputHandler onInput, DrainHandler onDrained = {});
    // The pty's path, or the socket's; empty otherwise.
    const std::string& path() const { return path_; }
    // Output bytes discarded so far (nobody reading, or over kMaxPending).
    uint64_t dropped();

    static constexpr size_t kMaxPending = 1024 * 1024;

private:
    void acceptClient();
    void readFrom(int fd);
    int outputFd() const;     // where output goes now, -1 for nowhere; with outMutex_
    void flushPending();      // the loop's thread: the output fd has room (or hung up)
    void discardPending();    // with outMutex_
    void stopWatching();      // with outMutex_
    size_t pendingSize() const { return pending_.size() - pendingStart_; }

    CharBackendConfig config_;
    std::string name_;
    std::string path_;
    UniqueFd out_;        // tty: stdout; file; pty master
    UniqueFd in_;         // tty: stdin; pty master (dup)
    UniqueFd listener_;   // socket
    UniqueFd client_;     // socket: the connected client, read from (and watched for input)
    UniqueFd clientOut_;  // socket: the same client (a dup), written to (and watched for room)
    EventLoop* loop_ = nullptr;
    InputHandler onInput_;
    DrainHandler onDrained_;
    bool ttyRaw_ = false;

    std::mutex outMutex_;           // everything below, and client_ / clientOut_
    std::vector<uint8_t> pending_;  // output waiting for the reader, from pendingStart_
    size_t pendingStart_ = 0;
    int watchedFd_ = -1;            // the output fd while the loop watches it for room
    uint64_t dropped_ = 0;
};

}  // namespace mica

// Errors that carry enough context to act on ("disk 'vdb': /img/x.raw: Permission denied").
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mica {

// A failure a person can read; what() is the whole message.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "context: strerror(err)". Capture errno right after the failing call.
inline Error systemError(const std::string& context, int err = errno)
{
    return Error(context + ": " + std::strerror(err));
}

}  // namespace mica

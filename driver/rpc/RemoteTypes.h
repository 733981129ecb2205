// Structures of remote_protocol.x shared by many procedures: object handles, typed
// parameters and remote_error, with their XDR encoding.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "Xdr.h"

namespace mica::rpc {

using Uuid = std::array<std::uint8_t, 16>;

// remote_nonnull_domain. id is -1 for a domain that is not running.
struct DomainRef {
    std::string name;
    Uuid uuid{};
    std::int32_t id = -1;
    bool operator==(const DomainRef&) const = default;
};

void encodeDomain(XdrEncoder& enc, const DomainRef& dom);
DomainRef decodeDomain(XdrDecoder& dec);
// remote_domain: an optional remote_nonnull_domain.
std::optional<DomainRef> decodeOptionalDomain(XdrDecoder& dec);

// remote_typed_param. The variant's alternatives follow virTypedParameterType
// (INT=1 ... STRING=7); Boolean keeps BOOLEAN apart from INT on the wire.
struct TypedParam {
    struct Boolean {
        bool value;
        bool operator==(const Boolean&) const = default;
    };
    using Value = std::variant<std::int32_t, std::uint32_t, std::int64_t, std::uint64_t, double,
                               Boolean, std::string>;
    std::string field;
    Value value;
    bool operator==(const TypedParam&) const = default;
};

void encodeTypedParams(XdrEncoder& enc, const std::vector<TypedParam>& params);
std::vector<TypedParam> decodeTypedParams(XdrDecoder& dec, std::uint32_t max);

// remote_error: what every failed REPLY carries. The client rebuilds a virError from
// it, so code/domain are virErrorNumber/virErrorDomain values.
struct RemoteError {
    std::int32_t code = 0;
    std::int32_t domain = 0;
    std::optional<std::string> message;
    std::int32_t level = 2;   // VIR_ERR_ERROR
    std::optional<std::string> str1, str2, str3;
    std::int32_t int1 = -1, int2 = -1;
    bool operator==(const RemoteError&) const = default;
};

void encodeRemoteError(XdrEncoder& enc, const RemoteError& err);
RemoteError decodeRemoteError(XdrDecoder& dec);

}  // namespace mica::rpc

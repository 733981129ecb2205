#include "RemoteTypes.h"

#include <algorithm>

#include "Protocol.h"

namespace mica::rpc {

void encodeDomain(XdrEncoder& enc, const DomainRef& dom)
{
    enc.putString(dom.name);
    enc.putFixedOpaque(dom.uuid);
    enc.putI32(dom.id);
}

DomainRef decodeDomain(XdrDecoder& dec)
{
    DomainRef dom;
    dom.name = dec.getString(kRemoteStringMax);
    auto uuid = dec.getFixedOpaque(kUuidLength);
    std::copy(uuid.begin(), uuid.end(), dom.uuid.begin());
    dom.id = dec.getI32();
    return dom;
}

std::optional<DomainRef> decodeOptionalDomain(XdrDecoder& dec)
{
    if (!dec.getPresent())
        return std::nullopt;
    return decodeDomain(dec);
}

void encodeTypedParams(XdrEncoder& enc, const std::vector<TypedParam>& params)
{
    enc.putU32(static_cast<std::uint32_t>(params.size()));
    for (const auto& p : params) {
        enc.putString(p.field);
        // The union discriminant is virTypedParameterType: variant index + 1.
        enc.putI32(static_cast<std::int32_t>(p.value.index()) + 1);
        std::visit(
            [&enc](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::int32_t>)
                    enc.putI32(v);
                else if constexpr (std::is_same_v<T, std::uint32_t>)
                    enc.putU32(v);
                else if constexpr (std::is_same_v<T, std::int64_t>)
                    enc.putI64(v);
                else if constexpr (std::is_same_v<T, std::uint64_t>)
                    enc.putU64(v);
                else if constexpr (std::is_same_v<T, double>)
                    enc.putDouble(v);
                else if constexpr (std::is_same_v<T, TypedParam::Boolean>)
                    enc.putI32(v.value ? 1 : 0);
                else
                    enc.putString(v);
            },
            p.value);
    }
}

std::vector<TypedParam> decodeTypedParams(XdrDecoder& dec, std::uint32_t max)
{
    // Smallest element: empty field name (4) + discriminant (4) + a 4-byte arm.
    std::uint32_t n = dec.getArrayCount(max, 12);
    std::vector<TypedParam> params;
    params.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        TypedParam p;
        p.field = dec.getString(kTypedParamFieldMax);
        std::int32_t type = dec.getI32();
        switch (type) {
        case 1: p.value = dec.getI32(); break;
        case 2: p.value = dec.getU32(); break;
        case 3: p.value = dec.getI64(); break;
        case 4: p.value = dec.getU64(); break;
        case 5: p.value = dec.getDouble(); break;
        case 6: p.value = TypedParam::Boolean{dec.getI32() != 0}; break;
        case 7: p.value = dec.getString(kRemoteStringMax); break;
        default:
            throw XdrError("typed parameter '" + p.field + "' has unknown type " +
                           std::to_string(type));
        }
        params.push_back(std::move(p));
    }
    return params;
}

void encodeRemoteError(XdrEncoder& enc, const RemoteError& err)
{
    enc.putI32(err.code);
    enc.putI32(err.domain);
    enc.putOptionalString(err.message);
    enc.putI32(err.level);
    enc.putBool(false);   // dom: unused by every libvirt since 0.x
    enc.putOptionalString(err.str1);
    enc.putOptionalString(err.str2);
    enc.putOptionalString(err.str3);
    enc.putI32(err.int1);
    enc.putI32(err.int2);
    enc.putBool(false);   // net: unused
}

RemoteError decodeRemoteError(XdrDecoder& dec)
{
    RemoteError err;
    err.code = dec.getI32();
    err.domain = dec.getI32();
    err.message = dec.getOptionalString(kErrorStringMax);
    err.level = dec.getI32();
    if (dec.getPresent())
        decodeDomain(dec);
    err.str1 = dec.getOptionalString(kErrorStringMax);
    err.str2 = dec.getOptionalString(kErrorStringMax);
    err.str3 = dec.getOptionalString(kErrorStringMax);
    err.int1 = dec.getI32();
    err.int2 = dec.getI32();
    if (dec.getPresent()) {   // remote_nonnull_network: name, uuid
        dec.getString(kRemoteStringMax);
        dec.getFixedOpaque(kUuidLength);
    }
    return err;
}

}  // namespace mica::rpc

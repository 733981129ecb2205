#include "IoLimits.h"

#include "i18n.h"

namespace mica {

namespace {

constexpr size_t kNoBucket = static_cast<size_t>(-1);
constexpr size_t B(IoUnit u, IoDirection d) { return bucketIndex(u, d); }
using U = IoUnit;
using D = IoDirection;

}  // namespace

const std::array<IoLimitField, 19> kIoLimitFields = {{
    {"total_bytes_sec", B(U::Bytes, D::Total), &BucketLimit::rate},
    {"read_bytes_sec", B(U::Bytes, D::Read), &BucketLimit::rate},
    {"write_bytes_sec", B(U::Bytes, D::Write), &BucketLimit::rate},
    {"total_iops_sec", B(U::Ops, D::Total), &BucketLimit::rate},
    {"read_iops_sec", B(U::Ops, D::Read), &BucketLimit::rate},
    {"write_iops_sec", B(U::Ops, D::Write), &BucketLimit::rate},
    {"total_bytes_sec_max", B(U::Bytes, D::Total), &BucketLimit::max},
    {"read_bytes_sec_max", B(U::Bytes, D::Read), &BucketLimit::max},
    {"write_bytes_sec_max", B(U::Bytes, D::Write), &BucketLimit::max},
    {"total_iops_sec_max", B(U::Ops, D::Total), &BucketLimit::max},
    {"read_iops_sec_max", B(U::Ops, D::Read), &BucketLimit::max},
    {"write_iops_sec_max", B(U::Ops, D::Write), &BucketLimit::max},
    {"size_iops_sec", kNoBucket, nullptr},
    {"total_bytes_sec_max_length", B(U::Bytes, D::Total), &BucketLimit::maxLength},
    {"read_bytes_sec_max_length", B(U::Bytes, D::Read), &BucketLimit::maxLength},
    {"write_bytes_sec_max_length", B(U::Bytes, D::Write), &BucketLimit::maxLength},
    {"total_iops_sec_max_length", B(U::Ops, D::Total), &BucketLimit::maxLength},
    {"read_iops_sec_max_length", B(U::Ops, D::Read), &BucketLimit::maxLength},
    {"write_iops_sec_max_length", B(U::Ops, D::Write), &BucketLimit::maxLength},
}};

const char* ioLimitName(size_t bucket, uint64_t BucketLimit::*part)
{
    for (const auto& f : kIoLimitFields)
        if (f.bucket == bucket && f.part == part)
            return f.name;
    return "";
}

uint64_t& fieldOf(IoLimits& limits, const IoLimitField& field)
{
    return field.bucket == kNoBucket ? limits.sizeIops : limits.buckets[field.bucket].*field.part;
}

uint64_t fieldOf(const IoLimits& limits, const IoLimitField& field)
{
    return fieldOf(const_cast<IoLimits&>(limits), field);
}

bool IoLimits::limited() const
{
    for (const auto& b : buckets)
        if (b.rate)
            return true;
    return false;
}

std::string ioLimitsProblem(const IoLimits& limits)
{
    for (const auto& f : kIoLimitFields)
        if (fieldOf(limits, f) > kMaxIoLimit)
            return std::string(f.name) + ": " + _("at most") + " " + std::to_string(kMaxIoLimit);
    for (IoUnit unit : {IoUnit::Bytes, IoUnit::Ops}) {
        const char* name = unit == IoUnit::Bytes ? "bytes" : "iops";
        const auto& total = limits.buckets[bucketIndex(unit, IoDirection::Total)];
        for (IoDirection d : {IoDirection::Read, IoDirection::Write}) {
            const auto& one = limits.buckets[bucketIndex(unit, d)];
            if ((total.rate && one.rate) || (total.max && one.max))
                return std::string("total_") + name + "_sec: " + _("cannot be set beside a read or write limit of the same unit");
        }
    }
    for (size_t i = 0; i < limits.buckets.size(); ++i) {
        const auto& b = limits.buckets[i];
        if (b.max && b.max < b.rate)
            return std::string(ioLimitName(i, &BucketLimit::max)) + ": " + _("must be at least") + " " + ioLimitName(i, &BucketLimit::rate);
        if (b.max && !b.rate)
            return std::string(ioLimitName(i, &BucketLimit::max)) + ": " + _("needs") + " " + ioLimitName(i, &BucketLimit::rate);
        if (b.maxLength && !b.max)
            return std::string(ioLimitName(i, &BucketLimit::maxLength)) + ": " + _("needs") + " " + ioLimitName(i, &BucketLimit::max);
    }
    return {};
}

}  // namespace mica

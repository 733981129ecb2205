#include "Aml.h"

#include <stdexcept>
#include <string>

namespace mica::x86::aml {

namespace {

// Opcodes, ACPI 6.4 section 20.3.
constexpr uint8_t ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08;
constexpr uint8_t BytePrefix = 0x0a, WordPrefix = 0x0b, DWordPrefix = 0x0c, StringPrefix = 0x0d,
                  QWordPrefix = 0x0e;
constexpr uint8_t ScopeOp = 0x10, BufferOp = 0x11, PackageOp = 0x12, MethodOp = 0x14;
constexpr uint8_t DualNamePrefix = 0x2e, MultiNamePrefix = 0x2f, RootChar = '\\', ParentPrefixChar = '^';
constexpr uint8_t ExtOpPrefix = 0x5b, DeviceOp = 0x82;
constexpr uint8_t Local0Op = 0x60, Arg0Op = 0x68, StoreOp = 0x70, ReturnOp = 0xa4;
constexpr uint8_t MutexOp = 0x01, AcquireOp = 0x23, ReleaseOp = 0x27, OpRegionOp = 0x80, FieldOp = 0x81;
constexpr uint8_t AddOp = 0x72, IncrementOp = 0x75, ShiftLeftOp = 0x79, AndOp = 0x7b, OrOp = 0x7d, NotifyOp = 0x86;
constexpr uint8_t LEqualOp = 0x93, LLessOp = 0x95, IfOp = 0xa0, ElseOp = 0xa1, WhileOp = 0xa2;

[[noreturn]] void invalid(const std::string& what)
{
    throw std::invalid_argument("AML: " + what);
}

bool isLeadChar(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

bool isNameChar(char c)
{
    return isLeadChar(c) || (c >= '0' && c <= '9');
}

void appendSegment(Bytes& out, std::string_view segment, std::string_view path)
{
    if (segment.empty() || segment.size() > 4 || !isLeadChar(segment[0]))
        invalid("bad name segment '" + std::string(segment) + "' in '" + std::string(path) + "'");
    for (char c : segment)
        if (!isNameChar(c))
            invalid("bad character in name '" + std::string(path) + "'");
    appendText(out, segment, 4, '_');
}

// Opcode, PkgLength, then the body: the shape of every named container.
Bytes withPkgLength(std::initializer_list<uint8_t> opcode, const Bytes& body)
{
    Bytes out(opcode);
    appendBytes(out, pkgLength(body.size()));
    appendBytes(out, body);
    return out;
}

}  // namespace

Bytes pkgLength(std::size_t payloadSize)
{
    // One byte holds 6 bits; with 1-3 follow bytes the lead byte keeps 4 bits and each
    // follow byte adds 8.
    if (payloadSize + 1 < (1u << 6))
        return {static_cast<uint8_t>(payloadSize + 1)};
    for (std::size_t follow = 1; follow <= 3; follow++) {
        std::size_t total = payloadSize + 1 + follow;
        if (total >= (std::size_t{1} << (4 + 8 * follow)))
            continue;
        Bytes out{static_cast<uint8_t>((follow << 6) | (total & 0x0f))};
        appendLe(out, total >> 4, follow);
        return out;
    }
    invalid("package of " + std::to_string(payloadSize) + " bytes is too long");
}

Bytes nameString(std::string_view path)
{
    Bytes out;
    std::string_view rest = path;
    if (!rest.empty() && rest[0] == RootChar) {
        out.push_back(RootChar);
        rest.remove_prefix(1);
    } else {
        while (!rest.empty() && rest[0] == ParentPrefixChar) {
            out.push_back(ParentPrefixChar);
            rest.remove_prefix(1);
        }
    }
    std::vector<std::string_view> segments;
    while (!rest.empty()) {
        std::size_t dot = rest.find('.');
        segments.push_back(rest.substr(0, dot));
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
        if (dot != std::string_view::npos && rest.empty())
            invalid("name '" + std::string(path) + "' ends with '.'");
    }
    if (segments.size() > 255)
        invalid("name '" + std::string(path) + "' has too many segments");
    if (segments.empty()) {
        if (out.empty())
            invalid("empty name");
        out.push_back(0x00);   // NullName: "\" alone is the root itself
    } else if (segments.size() == 2) {
        out.push_back(DualNamePrefix);
    } else if (segments.size() > 2) {
        out.push_back(MultiNamePrefix);
        out.push_back(static_cast<uint8_t>(segments.size()));
    }
    for (std::string_view segment : segments)
        appendSegment(out, segment, path);
    return out;
}

Bytes integer(uint64_t value)
{
    if (value == 0)
        return {ZeroOp};
    if (value == 1)
        return {OneOp};
    Bytes out;
    if (value <= 0xff) {
        out.push_back(BytePrefix);
        appendLe(out, value, 1);
    } else if (value <= 0xffff) {
        out.push_back(WordPrefix);
        appendLe(out, value, 2);
    } else if (value <= 0xffffffff) {
        out.push_back(DWordPrefix);
        appendLe(out, value, 4);
    } else {
        out.push_back(QWordPrefix);
        appendLe(out, value, 8);
    }
    return out;
}

Bytes string(std::string_view text)
{
    Bytes out{StringPrefix};
    for (char c : text) {
        if (c == '\0' || static_cast<unsigned char>(c) > 0x7f)
            invalid("strings are 7-bit ASCII without NUL");
        out.push_back(static_cast<uint8_t>(c));
    }
    out.push_back(0x00);
    return out;
}

uint32_t eisaIdValue(std::string_view id)
{
    auto hex = [&](char c) -> uint32_t {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        invalid("EISA id '" + std::string(id) + "' needs 3 letters and 4 upper-case hex digits");
    };
    if (id.size() != 7)
        invalid("EISA id '" + std::string(id) + "' needs 7 characters");
    uint32_t vendor = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z')
            invalid("EISA id '" + std::string(id) + "' needs 3 letters and 4 upper-case hex digits");
        vendor = (vendor << 5) | static_cast<uint32_t>(id[i] - '@');
    }
    uint32_t product = 0;
    for (int i = 3; i < 7; i++)
        product = (product << 4) | hex(id[i]);
    // The id is stored big-endian in memory (vendor, then product), read as a DWord.
    return (vendor >> 8) | ((vendor & 0xff) << 8) | ((product >> 8) << 16) | ((product & 0xff) << 24);
}

Bytes eisaId(std::string_view id)
{
    return integer(eisaIdValue(id));
}

Bytes buffer(std::span<const uint8_t> data)
{
    Bytes body = integer(data.size());
    body.insert(body.end(), data.begin(), data.end());
    return withPkgLength({BufferOp}, body);
}

Bytes package(const std::vector<Bytes>& elements)
{
    if (elements.size() > 255)
        invalid("package of " + std::to_string(elements.size()) + " elements needs a VarPackage");
    Bytes body{static_cast<uint8_t>(elements.size())};
    for (const Bytes& element : elements)
        appendBytes(body, element);
    return withPkgLength({PackageOp}, body);
}

Bytes name(std::string_view path, const Bytes& object)
{
    Bytes out{NameOp};
    appendBytes(out, nameString(path));
    appendBytes(out, object);
    return out;
}

Bytes scope(std::string_view path, const Bytes& terms)
{
    return withPkgLength({ScopeOp}, seq(nameString(path), terms));
}

Bytes device(std::string_view path, const Bytes& terms)
{
    return withPkgLength({ExtOpPrefix, DeviceOp}, seq(nameString(path), terms));
}

Bytes method(std::string_view path, unsigned argCount, bool serialized, const Bytes& terms)
{
    if (argCount > 7)
        invalid("method '" + std::string(path) + "' takes at most 7 arguments");
    // MethodFlags: ArgCount in bits 0-2, SerializeFlag bit 3, SyncLevel 0.
    Bytes flags{static_cast<uint8_t>(argCount | (serialized ? 0x08 : 0x00))};
    return withPkgLength({MethodOp}, seq(nameString(path), flags, terms));
}

Bytes returnValue(const Bytes& value)
{
    return seq(Bytes{ReturnOp}, value);
}

Bytes store(const Bytes& source, const Bytes& target)
{
    return seq(Bytes{StoreOp}, source, target);
}

Bytes arg(unsigned index)
{
    if (index > 6)
        invalid("Arg" + std::to_string(index) + " does not exist");
    return {static_cast<uint8_t>(Arg0Op + index)};
}

Bytes local(unsigned index)
{
    if (index > 7)
        invalid("Local" + std::to_string(index) + " does not exist");
    return {static_cast<uint8_t>(Local0Op + index)};
}

Bytes opRegion(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length)
{
    return seq(Bytes{ExtOpPrefix, OpRegionOp}, nameString(path), Bytes{static_cast<uint8_t>(space)}, integer(offset),
               integer(length));
}

namespace {

// A field entry's bit count: PkgLength's encoding, but of the value itself (it counts no
// bytes of its own).
Bytes fieldLength(unsigned bits)
{
    if (bits < (1u << 6))
        return {static_cast<uint8_t>(bits)};
    for (unsigned follow = 1; follow <= 3; follow++) {
        if (bits >= (std::size_t{1} << (4 + 8 * follow)))
            continue;
        Bytes out{static_cast<uint8_t>((follow << 6) | (bits & 0x0f))};
        appendLe(out, bits >> 4, follow);
        return out;
    }
    invalid("a field of " + std::to_string(bits) + " bits is too long");
}

Bytes binary(uint8_t op, const Bytes& left, const Bytes& right, const Bytes& target)
{
    // An absent target is the NullName.
    return seq(Bytes{op}, left, right, target.empty() ? Bytes{0x00} : target);
}

}  // namespace

Bytes field(std::string_view region, FieldAccess access, FieldUpdate update, const std::vector<FieldEntry>& entries)
{
    // FieldFlags: AccessType bits 0-3, LockRule bit 4 (NoLock), UpdateRule bits 5-6.
    Bytes body = seq(nameString(region), Bytes{static_cast<uint8_t>(static_cast<uint8_t>(access) |
                                                                     (static_cast<uint8_t>(update) << 5))});
    for (const FieldEntry& entry : entries) {
        if (entry.bits == 0)
            invalid("field entry '" + std::string(entry.name) + "' has no bits");
        if (entry.name.empty()) {
            body.push_back(0x00);   // ReservedField
        } else {
            if (entry.name.find('.') != std::string_view::npos || entry.name[0] == RootChar)
                invalid("field entry '" + std::string(entry.name) + "' must be one name segment");
            appendSegment(body, entry.name, entry.name);
        }
        appendBytes(body, fieldLength(entry.bits));
    }
    return withPkgLength({ExtOpPrefix, FieldOp}, body);
}

Bytes mutex(std::string_view path, unsigned syncLevel)
{
    if (syncLevel > 15)
        invalid("a mutex's SyncLevel is 0-15");
    return seq(Bytes{ExtOpPrefix, MutexOp}, nameString(path), Bytes{static_cast<uint8_t>(syncLevel)});
}

Bytes acquire(std::string_view mutexPath, uint16_t timeout)
{
    Bytes out = seq(Bytes{ExtOpPrefix, AcquireOp}, nameString(mutexPath));
    appendLe(out, timeout, 2);
    return out;
}

Bytes release(std::string_view mutexPath)
{
    return seq(Bytes{ExtOpPrefix, ReleaseOp}, nameString(mutexPath));
}

Bytes ifThen(const Bytes& predicate, const Bytes& terms)
{
    return withPkgLength({IfOp}, seq(predicate, terms));
}

Bytes elseDo(const Bytes& terms)
{
    return withPkgLength({ElseOp}, terms);
}

Bytes whileDo(const Bytes& predicate, const Bytes& terms)
{
    return withPkgLength({WhileOp}, seq(predicate, terms));
}

Bytes lEqual(const Bytes& left, const Bytes& right)
{
    return seq(Bytes{LEqualOp}, left, right);
}

Bytes lLess(const Bytes& left, const Bytes& right)
{
    return seq(Bytes{LLessOp}, left, right);
}

Bytes andOp(const Bytes& left, const Bytes& right, const Bytes& target)
{
    return binary(AndOp, left, right, target);
}

Bytes orOp(const Bytes& left, const Bytes& right, const Bytes& target)
{
    return binary(OrOp, left, right, target);
}

Bytes shiftLeft(const Bytes& value, const Bytes& count, const Bytes& target)
{
    return binary(ShiftLeftOp, value, count, target);
}

Bytes add(const Bytes& left, const Bytes& right, const Bytes& target)
{
    return binary(AddOp, left, right, target);
}

Bytes increment(const Bytes& target)
{
    return seq(Bytes{IncrementOp}, target);
}

Bytes notify(const Bytes& object, const Bytes& value)
{
    return seq(Bytes{NotifyOp}, object, value);
}

Bytes nameRef(std::string_view path)
{
    return nameString(path);
}

Bytes call(std::string_view path, const std::vector<Bytes>& args)
{
    Bytes out = nameString(path);
    if (args.size() > 7)
        invalid("a method takes at most 7 arguments");
    for (const Bytes& a : args)
        appendBytes(out, a);
    return out;
}

// Resource descriptors, ACPI 6.4 section 6.4. Small items carry their length in the tag
// byte; large items have a 16-bit length after it.

ResourceTemplate& ResourceTemplate::io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length)
{
    descriptors_.push_back(0x47);           // small item 0x08, 7 bytes
    descriptors_.push_back(0x01);           // decodes 16 address bits
    appendLe(descriptors_, min, 2);
    appendLe(descriptors_, max, 2);
    descriptors_.push_back(alignment);
    descriptors_.push_back(length);
    return *this;
}

ResourceTemplate& ResourceTemplate::irqNoFlags(uint8_t irq)
{
    if (irq > 15)
        invalid("IRQ descriptor cannot name IRQ " + std::to_string(irq));
    descriptors_.push_back(0x22);           // small item 0x04, 2 bytes
    appendLe(descriptors_, 1u << irq, 2);
    return *this;
}

ResourceTemplate& ResourceTemplate::irq(uint8_t irq, Trigger trigger, Polarity polarity, Sharing sharing)
{
    irqNoFlags(irq);
    descriptors_[descriptors_.size() - 3] = 0x23;   // same item with the 3rd (flags) byte
    descriptors_.push_back(static_cast<uint8_t>((trigger == Trigger::Edge ? 0x01 : 0x00) |
                                                (polarity == Polarity::ActiveLow ? 0x08 : 0x00) |
                                                (sharing == Sharing::Shared ? 0x10 : 0x00)));
    return *this;
}

ResourceTemplate& ResourceTemplate::memory32Fixed(uint32_t base, uint32_t length, bool writable)
{
    descriptors_.push_back(0x86);
    appendLe(descriptors_, 9, 2);
    descriptors_.push_back(writable ? 0x01 : 0x00);
    appendLe(descriptors_, base, 4);
    appendLe(descriptors_, length, 4);
    return *this;
}

void ResourceTemplate::addressSpace(uint8_t tag, std::size_t fieldSize, uint8_t resourceType,
                                    Usage usage, uint8_t typeFlags, uint64_t min, uint64_t max)
{
    if (max < min)
        invalid("address range ends before it starts");
    descriptors_.push_back(tag);
    appendLe(descriptors_, 3 + 5 * fieldSize, 2);
    descriptors_.push_back(resourceType);
    // General flags: MaxFixed (bit 3), MinFixed (bit 2), positive decode, consumer bit 0.
    descriptors_.push_back(static_cast<uint8_t>(0x0c | (usage == Usage::Consumer ? 0x01 : 0x00)));
    descriptors_.push_back(typeFlags);
    appendLe(descriptors_, 0, fieldSize);            // granularity
    appendLe(descriptors_, min, fieldSize);
    appendLe(descriptors_, max, fieldSize);
    appendLe(descriptors_, 0, fieldSize);            // translation offset
    appendLe(descriptors_, max - min + 1, fieldSize);
}

namespace {

constexpr uint8_t MemoryRange = 0, IoRange = 1, BusNumberRange = 2;

uint8_t memoryFlags(bool cacheable, bool writable)
{
    // Bit 0 read-write, bits 1-2 cacheability (0 non-cacheable, 1 cacheable).
    return static_cast<uint8_t>((writable ? 0x01 : 0x00) | (cacheable ? 0x02 : 0x00));
}

}  // namespace

ResourceTemplate& ResourceTemplate::wordBusNumber(uint16_t min, uint16_t max, Usage usage)
{
    addressSpace(0x88, 2, BusNumberRange, usage, 0, min, max);
    return *this;
}

ResourceTemplate& ResourceTemplate::wordIo(uint16_t min, uint16_t max, Usage usage)
{
    addressSpace(0x88, 2, IoRange, usage, 0x03 /* EntireRange */, min, max);
    return *this;
}

ResourceTemplate& ResourceTemplate::dwordMemory(uint32_t min, uint32_t max, bool cacheable, bool writable,
                                                Usage usage)
{
    addressSpace(0x87, 4, MemoryRange, usage, memoryFlags(cacheable, writable), min, max);
    return *this;
}

ResourceTemplate& ResourceTemplate::qwordMemory(uint64_t min, uint64_t max, bool cacheable, bool writable,
                                                Usage usage)
{
    if (min == 0 && max == UINT64_MAX)
        invalid("a QWord range cannot cover all 2^64 addresses");
    addressSpace(0x8a, 8, MemoryRange, usage, memoryFlags(cacheable, writable), min, max);
    return *this;
}

ResourceTemplate& ResourceTemplate::interrupt(Usage usage, Trigger trigger, Polarity polarity, Sharing sharing,
                                              const std::vector<uint32_t>& gsis)
{
    if (gsis.empty() || gsis.size() > 255)
        invalid("an Interrupt descriptor holds 1 to 255 interrupts");
    descriptors_.push_back(0x89);
    appendLe(descriptors_, 2 + 4 * gsis.size(), 2);
    descriptors_.push_back(static_cast<uint8_t>((usage == Usage::Consumer ? 0x01 : 0x00) |
                                                (trigger == Trigger::Edge ? 0x02 : 0x00) |
                                                (polarity == Polarity::ActiveLow ? 0x04 : 0x00) |
                                                (sharing == Sharing::Shared ? 0x08 : 0x00)));
    descriptors_.push_back(static_cast<uint8_t>(gsis.size()));
    for (uint32_t gsi : gsis)
        appendLe(descriptors_, gsi, 4);
    return *this;
}

Bytes ResourceTemplate::buffer() const
{
    Bytes data = descriptors_;
    // End tag; a zero checksum means "treat as valid", which is what ASL compilers emit.
    data.push_back(0x79);
    data.push_back(0x00);
    return aml::buffer(data);
}

}  // namespace mica::x86::aml

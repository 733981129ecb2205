// A small AML (ACPI Machine Language) byte-code builder, enough for a VMM's DSDT:
// names, scopes, devices, methods, packages, integers, strings, buffers, resource
// templates, and what hotplug methods need: operation regions and their fields, mutexes,
// conditionals, integer arithmetic, Notify and method calls. Every function returns the finished encoding of one term, so a table reads
// like the ASL it stands for:
//
//   scope("\\_SB", device("COM1", seq(name("_HID", eisaId("PNP0501")), ...)))
//
// Encodings follow ACPI 6.4 chapter 20 (AML grammar) and 6.4.2-6.4.3 (resource
// descriptors). Bad input (an invalid name, too many package elements) throws
// std::invalid_argument: the callers build tables from VMM-chosen values, so it is a bug.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "LeBytes.h"

namespace mica::x86::aml {

// PkgLength for a body of `payloadSize` bytes: the encoded length counts its own 1-4
// bytes too, so the size class depends on the total.
Bytes pkgLength(std::size_t payloadSize);

// "\\_SB.PCI0", "^FOO", "_S5_", "COM1": segments of at most 4 characters, padded with '_'.
Bytes nameString(std::string_view path);

// The shortest of ZeroOp, OneOp, Byte/Word/DWord/QWordConst. OnesOp is never used: its
// value depends on the table's revision.
Bytes integer(uint64_t value);
Bytes string(std::string_view text);
// EISAID("PNP0A03") as the 32-bit compressed id (an integer), what _HID/_CID expect.
uint32_t eisaIdValue(std::string_view id);
Bytes eisaId(std::string_view id);

Bytes buffer(std::span<const uint8_t> data);
// Package (at most 255 elements: a VarPackage is never needed for our tables).
Bytes package(const std::vector<Bytes>& elements);

Bytes name(std::string_view path, const Bytes& object);
Bytes scope(std::string_view path, const Bytes& terms);
Bytes device(std::string_view path, const Bytes& terms);
Bytes method(std::string_view path, unsigned argCount, bool serialized, const Bytes& terms);
Bytes returnValue(const Bytes& value);
Bytes store(const Bytes& source, const Bytes& target);
Bytes arg(unsigned index);     // Arg0..Arg6
Bytes local(unsigned index);   // Local0..Local7

// OperationRegion (name, space, offset, length).
enum class RegionSpace : uint8_t { SystemMemory = 0, SystemIo = 1 };
Bytes opRegion(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length);
// Field (region, access, NoLock, update) { name, bits, ... }: an entry with an empty name
// is reserved space (the ", 8" of ASL).
enum class FieldAccess : uint8_t { Any = 0, Byte = 1, Word = 2, DWord = 3, QWord = 4 };
enum class FieldUpdate : uint8_t { Preserve = 0, WriteAsOnes = 1, WriteAsZeros = 2 };
struct FieldEntry {
    std::string_view name;   // one name segment, or empty: reserved
    unsigned bits;
};
Bytes field(std::string_view region, FieldAccess access, FieldUpdate update, const std::vector<FieldEntry>& entries);
Bytes mutex(std::string_view path, unsigned syncLevel = 0);
// Acquire (mutex, timeout ms; 0xffff waits for ever). Its result (true: timed out) is
// dropped when used as a statement.
Bytes acquire(std::string_view mutexPath, uint16_t timeout);
Bytes release(std::string_view mutexPath);
Bytes ifThen(const Bytes& predicate, const Bytes& terms);
Bytes elseDo(const Bytes& terms);   // right after an ifThen
Bytes whileDo(const Bytes& predicate, const Bytes& terms);
Bytes lEqual(const Bytes& left, const Bytes& right);
Bytes lLess(const Bytes& left, const Bytes& right);
// Integer operators; `target` is where the result goes too (a name, local, arg), or
// nothing: then only the value.
Bytes andOp(const Bytes& left, const Bytes& right, const Bytes& target = {});
Bytes orOp(const Bytes& left, const Bytes& right, const Bytes& target = {});
Bytes shiftLeft(const Bytes& value, const Bytes& count, const Bytes& target = {});
Bytes add(const Bytes& left, const Bytes& right, const Bytes& target = {});
Bytes increment(const Bytes& target);
Bytes notify(const Bytes& object, const Bytes& value);
// A reference to a named object (nameString), as an operand.
Bytes nameRef(std::string_view path);
// Method invocation: the method's name, then its arguments.
Bytes call(std::string_view path, const std::vector<Bytes>& args = {});

// Concatenates terms into one term list.
template <typename... Parts>
Bytes seq(const Parts&... parts)
{
    Bytes out;
    (out.insert(out.end(), parts.begin(), parts.end()), ...);
    return out;
}

enum class Usage : uint8_t { Producer, Consumer };     // who decodes the range
enum class Trigger : uint8_t { Edge, Level };
enum class Polarity : uint8_t { ActiveHigh, ActiveLow };
enum class Sharing : uint8_t { Exclusive, Shared };

// Collects resource descriptors; buffer() appends the end tag and wraps them as the
// Buffer a _CRS returns.
class ResourceTemplate {
public:
    // IO (Decode16, min, max, alignment, length)
    ResourceTemplate& io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
    // IRQNoFlags () {irq}: ISA style, edge triggered, active high, exclusive.
    ResourceTemplate& irqNoFlags(uint8_t irq);
    ResourceTemplate& irq(uint8_t irq, Trigger trigger, Polarity polarity, Sharing sharing);
    ResourceTemplate& memory32Fixed(uint32_t base, uint32_t length, bool writable = true);
    // Address space descriptors with fixed min and max and positive decode (what a host
    // bridge window or a reserved region is). Length is max - min + 1.
    ResourceTemplate& wordBusNumber(uint16_t min, uint16_t max, Usage usage = Usage::Producer);
    ResourceTemplate& wordIo(uint16_t min, uint16_t max, Usage usage = Usage::Producer);
    ResourceTemplate& dwordMemory(uint32_t min, uint32_t max, bool cacheable, bool writable = true,
                                  Usage usage = Usage::Producer);
    ResourceTemplate& qwordMemory(uint64_t min, uint64_t max, bool cacheable, bool writable = true,
                                  Usage usage = Usage::Producer);
    // Interrupt (usage, trigger, polarity, sharing) {gsi, ...}: extended, 32-bit numbers.
    ResourceTemplate& interrupt(Usage usage, Trigger trigger, Polarity polarity, Sharing sharing,
                                const std::vector<uint32_t>& gsis);

    Bytes buffer() const;

private:
    void addressSpace(uint8_t tag, std::size_t fieldSize, uint8_t resourceType, Usage usage,
                      uint8_t typeFlags, uint64_t min, uint64_t max);

    Bytes descriptors_;
};

}  // namespace mica::x86::aml

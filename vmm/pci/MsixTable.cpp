#include "MsixTable.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "Error.h"
#include "StateJson.h"
#include "Vm.h"

namespace mica::pci {

namespace {
struct VectorState {
    uint64_t address;
    uint32_t data;
    bool masked, pending;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VectorState, address, data, masked, pending)
struct MsixState {
    bool enabled, function_masked;
    std::vector<VectorState> vectors;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MsixState, enabled, function_masked, vectors)
}  // namespace

MsixTable::MsixTable(uint16_t vectors, MsiSink& sink) : sink_(sink), entries_(vectors) {}

void MsixTable::tableRead(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i) {
        uint64_t at = offset + i;
        size_t index = at / kEntrySize;
        if (index >= entries_.size()) {
            data[i] = 0xff;
            continue;
        }
        const Entry& e = entries_[index];
        unsigned byte = at % kEntrySize;
        uint64_t word;
        if (byte < 8)
            word = e.message.address >> (8 * byte);
        else if (byte < 12)
            word = e.message.data >> (8 * (byte - 8));
        else
            word = byte == 12 ? (e.masked ? 1 : 0) : 0;
        data[i] = static_cast<uint8_t>(word);
    }
}

void MsixTable::tableWrite(uint64_t offset, std::span<const uint8_t> data)
{
    std::lock_guard lock(mutex_);
    std::vector<uint16_t> touched;
    for (size_t i = 0; i < data.size(); ++i) {
        uint64_t at = offset + i;
        size_t index = at / kEntrySize;
        if (index >= entries_.size())
            continue;
        Entry& e = entries_[index];
        unsigned byte = at % kEntrySize;
        uint64_t value = data[i];
        if (byte < 8) {
            e.message.address = (e.message.address & ~(0xffull << (8 * byte))) | value << (8 * byte);
        } else if (byte < 12) {
            unsigned shift = 8 * (byte - 8);
            e.message.data = static_cast<uint32_t>((e.message.data & ~(0xffu << shift)) | value << shift);
        } else if (byte == 12) {
            e.masked = value & 1;
        }
        if (touched.empty() || touched.back() != index)
            touched.push_back(static_cast<uint16_t>(index));
    }
    for (uint16_t v : touched)
        refresh(v);
}

void MsixTable::pbaRead(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i) {
        uint8_t byte = 0;
        for (unsigned bit = 0; bit < 8; ++bit) {
            uint64_t v = (offset + i) * 8 + bit;
            if (v < entries_.size() && entries_[v].pending)
                byte |= static_cast<uint8_t>(1u << bit);
        }
        data[i] = byte;
    }
}

void MsixTable::setControl(bool enabled, bool functionMasked)
{
    std::lock_guard lock(mutex_);
    if (enabled == enabled_ && functionMasked == functionMasked_)
        return;
    enabled_ = enabled;
    functionMasked_ = functionMasked;
    for (uint16_t v = 0; v < entries_.size(); ++v)
        refresh(v);
}

// Called with mutex_ held after anything that can change a vector's deliverability:
// the sink learns the new message, and an interrupt held while masked goes out now.
void MsixTable::refresh(uint16_t vector)
{
    Entry& e = entries_[vector];
    bool usable = enabled_ && !functionMasked_ && !e.masked;
    sink_.update(vector, e.message, usable);
    if (usable && e.pending) {
        e.pending = false;
        sink_.fire(vector);
    }
}

nlohmann::json MsixTable::save()
{
    std::lock_guard lock(mutex_);
    MsixState state{enabled_, functionMasked_, {}};
    for (const auto& e : entries_)
        state.vectors.push_back({e.message.address, e.message.data, e.masked, e.pending});
    return state;
}

void MsixTable::restore(const nlohmann::json& json)
{
    auto state = readState<MsixState>(json, "MSI-X");
    std::lock_guard lock(mutex_);
    if (state.vectors.size() != entries_.size())
        throw StateError("MSI-X: " + std::to_string(state.vectors.size()) + " vectors saved, the device has " +
                         std::to_string(entries_.size()));
    enabled_ = state.enabled;
    functionMasked_ = state.function_masked;
    for (size_t v = 0; v < entries_.size(); ++v) {
        const auto& s = state.vectors[v];
        entries_[v] = Entry{MsiMessage{s.address, s.data}, s.masked, s.pending};
        refresh(static_cast<uint16_t>(v));
    }
}

bool MsixTable::signal(uint16_t vector)
{
    std::lock_guard lock(mutex_);
    if (!enabled_)
        return false;
    if (vector >= entries_.size())
        return true;  // the driver chose no vector: nothing to raise
    Entry& e = entries_[vector];
    if (functionMasked_ || e.masked)
        e.pending = true;
    else
        sink_.fire(vector);
    return true;
}

std::vector<uint8_t> MsixTable::capabilityBody(uint8_t bar, uint32_t tableOffset, uint32_t pbaOffset) const
{
    uint16_t control = static_cast<uint16_t>(entries_.size() - 1);
    uint32_t table = tableOffset | bar, pba = pbaOffset | bar;
    return {static_cast<uint8_t>(control), static_cast<uint8_t>(control >> 8),
            static_cast<uint8_t>(table), static_cast<uint8_t>(table >> 8), static_cast<uint8_t>(table >> 16), static_cast<uint8_t>(table >> 24),
            static_cast<uint8_t>(pba), static_cast<uint8_t>(pba >> 8), static_cast<uint8_t>(pba >> 16), static_cast<uint8_t>(pba >> 24)};
}

std::vector<uint8_t> MsixTable::capabilityWritable()
{
    // Message control: bit 14 function mask, bit 15 enable.
    return {0x00, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0};
}

KvmMsiSink::KvmMsiSink(GsiRouter& router, uint16_t vectors) : router_(router)
{
    for (uint16_t v = 0; v < vectors; ++v) {
        int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            throw systemError("eventfd");
        uint32_t gsi = router.allocateGsi();
        vectors_.push_back({gsi, fd});
        router.vm().addIrqFd(fd, gsi);
    }
}

KvmMsiSink::~KvmMsiSink()
{
    for (const auto& v : vectors_) {
        try {
            router_.vm().removeIrqFd(v.eventFd, v.gsi);
            router_.releaseGsi(v.gsi);
        } catch (const Error&) {
            // the VM is going away with us; nothing left to tidy
        }
        ::close(v.eventFd);
    }
}

void KvmMsiSink::update(uint16_t vector, const MsiMessage& message, bool usable)
{
    if (usable)
        router_.setMsiRoute(vectors_[vector].gsi, message);
    else
        router_.clearRoute(vectors_[vector].gsi);
}

void KvmMsiSink::fire(uint16_t vector)
{
    uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(vectors_[vector].eventFd, &one, sizeof one);
}

}  // namespace mica::pci

#include "Vm.h"

#include <sys/ioctl.h>

#include <memory>
#include <string>

#include "Error.h"
#include "Vcpu.h"

namespace mica::kvm {

int Vm::checkExtension(long cap) const
{
    int ret = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return ret < 0 ? 0 : ret;
}

void Vm::setMemoryRegion(uint32_t slot, uint64_t gpa, uint64_t size, void* host, bool readOnly, bool logDirty)
{
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = (readOnly ? KVM_MEM_READONLY : 0) | (logDirty ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    region.guest_phys_addr = gpa;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        throw systemError("KVM_SET_USER_MEMORY_REGION (slot " + std::to_string(slot) + ")");
}

std::vector<uint64_t> Vm::dirtyLog(uint32_t slot, uint64_t size)
{
    constexpr uint64_t kPage = 4096;
    std::vector<uint64_t> bitmap((size / kPage + 63) / 64);
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bitmap.data();
    if (::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) < 0)
        throw systemError("KVM_GET_DIRTY_LOG (slot " + std::to_string(slot) + ")");
    return bitmap;
}

void Vm::setTssAddress(uint64_t gpa)
{
    if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa)) < 0)
        throw systemError("KVM_SET_TSS_ADDR");
}

void Vm::setIdentityMapAddress(uint64_t gpa)
{
    if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &gpa) < 0)
        throw systemError("KVM_SET_IDENTITY_MAP_ADDR");
}

void Vm::createIrqchip()
{
    if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0)
        throw systemError("KVM_CREATE_IRQCHIP");
}

void Vm::createPit()
{
    kvm_pit_config config{};
    config.flags = KVM_PIT_SPEAKER_DUMMY;  // port 0x61 reads work; no sound device
    if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &config) < 0)
        throw systemError("KVM_CREATE_PIT2");
}

void Vm::setIrqLine(uint32_t gsi, bool level)
{
    kvm_irq_level irq{};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    if (::ioctl(fd_.get(), KVM_IRQ_LINE, &irq) < 0)
        throw systemError("KVM_IRQ_LINE (gsi " + std::to_string(gsi) + ")");
}

void Vm::ioEventFd(int eventFd, uint64_t addr, uint32_t length, bool pio, uint32_t extraFlags)
{
    kvm_ioeventfd request{};
    request.addr = addr;
    request.len = length;
    request.fd = eventFd;
    request.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | extraFlags;
    if (::ioctl(fd_.get(), KVM_IOEVENTFD, &request) < 0)
        throw systemError("KVM_IOEVENTFD");
}

void Vm::addIoEventFd(int eventFd, uint64_t addr, uint32_t length, bool pio)
{
    ioEventFd(eventFd, addr, length, pio, 0);
}

void Vm::removeIoEventFd(int eventFd, uint64_t addr, uint32_t length, bool pio)
{
    ioEventFd(eventFd, addr, length, pio, KVM_IOEVENTFD_FLAG_DEASSIGN);
}

void Vm::addIrqFd(int eventFd, uint32_t gsi, int resampleFd)
{
    kvm_irqfd request{};
    request.fd = static_cast<uint32_t>(eventFd);
    request.gsi = gsi;
    if (resampleFd >= 0) {
        request.flags = KVM_IRQFD_FLAG_RESAMPLE;
        request.resamplefd = static_cast<uint32_t>(resampleFd);
    }
    if (::ioctl(fd_.get(), KVM_IRQFD, &request) < 0)
        throw systemError("KVM_IRQFD (gsi " + std::to_string(gsi) + ")");
}

void Vm::removeIrqFd(int eventFd, uint32_t gsi)
{
    kvm_irqfd request{};
    request.fd = static_cast<uint32_t>(eventFd);
    request.gsi = gsi;
    request.flags = KVM_IRQFD_FLAG_DEASSIGN;
    if (::ioctl(fd_.get(), KVM_IRQFD, &request) < 0)
        throw systemError("KVM_IRQFD deassign (gsi " + std::to_string(gsi) + ")");
}

void Vm::setGsiRouting(const kvm_irq_routing_entry* entries, uint32_t count)
{
    size_t bytes = sizeof(kvm_irq_routing) + count * sizeof(kvm_irq_routing_entry);
    auto buffer = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* table = reinterpret_cast<kvm_irq_routing*>(buffer.get());
    table->nr = count;
    auto* out = reinterpret_cast<kvm_irq_routing_entry*>(table + 1);
    std::copy(entries, entries + count, out);
    if (::ioctl(fd_.get(), KVM_SET_GSI_ROUTING, table) < 0)
        throw systemError("KVM_SET_GSI_ROUTING");
}

kvm_clock_data Vm::getClock() const
{
    kvm_clock_data data{};
    if (::ioctl(fd_.get(), KVM_GET_CLOCK, &data) < 0)
        throw systemError("KVM_GET_CLOCK");
    return data;
}

void Vm::setClock(const kvm_clock_data& data)
{
    kvm_clock_data copy = data;
    copy.flags = 0;  // KVM refuses flags it reported on GET
    if (::ioctl(fd_.get(), KVM_SET_CLOCK, &copy) < 0)
        throw systemError("KVM_SET_CLOCK");
}

kvm_irqchip Vm::irqchip(uint32_t chip) const
{
    kvm_irqchip value{};
    value.chip_id = chip;
    if (::ioctl(fd_.get(), KVM_GET_IRQCHIP, &value) < 0)
        throw systemError("KVM_GET_IRQCHIP " + std::to_string(chip));
    return value;
}

void Vm::setIrqchip(const kvm_irqchip& value)
{
    if (::ioctl(fd_.get(), KVM_SET_IRQCHIP, &value) < 0)
        throw systemError("KVM_SET_IRQCHIP " + std::to_string(value.chip_id));
}

kvm_pit_state2 Vm::pit() const
{
    kvm_pit_state2 value{};
    if (::ioctl(fd_.get(), KVM_GET_PIT2, &value) < 0)
        throw systemError("KVM_GET_PIT2");
    return value;
}

void Vm::setPit(const kvm_pit_state2& value)
{
    if (::ioctl(fd_.get(), KVM_SET_PIT2, &value) < 0)
        throw systemError("KVM_SET_PIT2");
}

Vcpu Vm::createVcpu(unsigned id)
{
    int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    if (fd < 0)
        throw systemError("KVM_CREATE_VCPU " + std::to_string(id));
    return Vcpu(UniqueFd(fd), id, vcpuMmapSize_);
}

}  // namespace mica::kvm

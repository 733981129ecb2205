#include "PvhBoot.h"

#include <elf.h>

#include <cstring>
#include <optional>

#include "Error.h"
#include "Layout.h"
#include "LinuxBoot.h"
#include "i18n.h"

namespace mica::x86 {

namespace {
constexpr uint32_t kXenElfNotePhys32Entry = 18;
constexpr uint32_t kStartInfoMagic = 0x336ec578;

// xen/include/public/arch-x86/hvm/start_info.h, version 1.
struct HvmStartInfo {
    uint32_t magic, version, flags, nrModules;
    uint64_t modlistPaddr, cmdlinePaddr, rsdpPaddr, memmapPaddr;
    uint32_t memmapEntries, reserved;
};
struct HvmModlistEntry {
    uint64_t paddr, size, cmdlinePaddr, reserved;
};
struct HvmMemmapEntry {
    uint64_t addr, size;
    uint32_t type, reserved;
};
static_assert(sizeof(HvmStartInfo) == 56 && sizeof(HvmModlistEntry) == 32 && sizeof(HvmMemmapEntry) == 24);

template <typename T>
T at(std::span<const uint8_t> data, uint64_t offset, const std::string& path)
{
    if (offset > data.size() || data.size() - offset < sizeof(T))
        throw Error(path + ": " + _("truncated or corrupt ELF file"));
    T value;
    std::memcpy(&value, data.data() + offset, sizeof value);
    return value;
}

std::span<const uint8_t> range(std::span<const uint8_t> data, uint64_t offset, uint64_t size, const std::string& path)
{
    if (offset > data.size() || size > data.size() - offset)
        throw Error(path + ": " + _("truncated or corrupt ELF file"));
    return data.subspan(offset, size);
}

// Walks the notes of one PT_NOTE segment for Xen's PHYS32_ENTRY.
std::optional<uint64_t> findPvhEntry(std::span<const uint8_t> notes, const std::string& path)
{
    size_t pos = 0;
    while (notes.size() - pos >= sizeof(Elf64_Nhdr)) {
        auto header = at<Elf64_Nhdr>(notes, pos, path);
        size_t nameOffset = pos + sizeof header;
        size_t descOffset = nameOffset + ((header.n_namesz + 3) & ~3u);
        size_t next = descOffset + ((header.n_descsz + 3) & ~3ull);
        if (next > notes.size())
            break;
        bool xen = header.n_namesz == 4 && std::memcmp(notes.data() + nameOffset, "Xen", 4) == 0;
        if (xen && header.n_type == kXenElfNotePhys32Entry) {
            if (header.n_descsz == 4)
                return at<uint32_t>(notes, descOffset, path);
            if (header.n_descsz == 8)
                return at<uint64_t>(notes, descOffset, path);
        }
        pos = next;
    }
    return std::nullopt;
}
}  // namespace

BootEntry loadPvhKernel(const GuestMemory& memory, const std::string& path, std::span<const uint8_t> elf,
                        std::span<const uint8_t> initramfs, const std::vector<E820Entry>& e820, uint64_t rsdpAddr)
{
    auto header = at<Elf64_Ehdr>(elf, 0, path);
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
        header.e_machine != EM_X86_64)
        throw Error(path + ": " + _("not an x86_64 ELF kernel"));
    if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0)
        throw Error(path + ": " + _("the ELF file has no program headers"));

    std::optional<uint64_t> entry;
    uint64_t kernelEnd = 0;
    for (unsigned i = 0; i < header.e_phnum; ++i) {
        auto ph = at<Elf64_Phdr>(elf, header.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr), path);
        if (ph.p_type == PT_NOTE && !entry) {
            entry = findPvhEntry(range(elf, ph.p_offset, ph.p_filesz, path), path);
        } else if (ph.p_type == PT_LOAD) {
            if (ph.p_filesz > ph.p_memsz || !memory.contains(ph.p_paddr, ph.p_memsz))
                throw Error(path + ": " + _("a kernel segment does not fit in guest memory"));
            memory.write(ph.p_paddr, range(elf, ph.p_offset, ph.p_filesz, path));
            auto bss = memory.slice(ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz);
            std::memset(bss.data(), 0, bss.size());
            kernelEnd = std::max(kernelEnd, ph.p_paddr + ph.p_memsz);
        }
    }
    if (!entry)
        throw Error(path + ": " + _("the ELF kernel has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY)"));

    // hvm_start_info, then the module list, then the memory map, all in one page.
    HvmStartInfo info{};
    info.magic = kStartInfoMagic;
    info.version = 1;
    info.cmdlinePaddr = kCmdlineAddr;
    info.rsdpPaddr = rsdpAddr;
    uint64_t modlistAddr = kPvhStartInfoAddr + sizeof info;
    uint64_t memmapAddr = modlistAddr + sizeof(HvmModlistEntry);
    if (!initramfs.empty()) {
        HvmModlistEntry module{};
        module.paddr = placeInitramfs(memory, initramfs, kernelEnd, kMmioHoleStart);
        module.size = initramfs.size();
        memory.write(modlistAddr, {reinterpret_cast<const uint8_t*>(&module), sizeof module});
        info.nrModules = 1;
        info.modlistPaddr = modlistAddr;
    }
    if (memmapAddr + e820.size() * sizeof(HvmMemmapEntry) > kPvhStartInfoAddr + 0x1000)
        throw Error(_("too many memory map entries"));
    for (size_t i = 0; i < e820.size(); ++i) {
        HvmMemmapEntry entry{e820[i].addr, e820[i].size, e820[i].type, 0};
        memory.write(memmapAddr + i * sizeof entry, {reinterpret_cast<const uint8_t*>(&entry), sizeof entry});
    }
    info.memmapPaddr = memmapAddr;
    info.memmapEntries = static_cast<uint32_t>(e820.size());
    memory.write(kPvhStartInfoAddr, {reinterpret_cast<const uint8_t*>(&info), sizeof info});
    return {BootEntry::Mode::Pvh32, *entry, kPvhStartInfoAddr};
}

}  // namespace mica::x86

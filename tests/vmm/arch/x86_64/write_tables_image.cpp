// Test tool: writes the ACPI tables for a platform as one flat image starting at the
// RSDP (or, with mp=1, the MP table at its floating pointer), so QEMU (-device loader)
// can place them in a guest that then boots with acpi_rsdp=ADDRESS (or acpi=off). Lets
// a stock Linux judge the tables before the VMM exists.
//
//   mica-x86-tables-image OUT ADDRESS [key=value...]
//   keys: mp, cpus, max_cpus, pm_event_port, pm_control_port, s5, pci_ecam, pci_mmio32,
//         pci_mmio32_size, pci_mmio64, pci_mmio64_size (numbers in C syntax)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "AcpiTables.h"
#include "MpTable.h"

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " OUT ADDRESS [key=value...]\n";
        return 2;
    }
    uint64_t base = std::strtoull(argv[2], nullptr, 0);
    mica::x86::PlatformDesc p;
    bool mp = false;
    for (int i = 3; i < argc; i++) {
        std::string arg = argv[i];
        std::size_t eq = arg.find('=');
        if (eq == std::string::npos) {
            std::cerr << "not key=value: " << arg << "\n";
            return 2;
        }
        std::string key = arg.substr(0, eq);
        uint64_t value = std::strtoull(arg.c_str() + eq + 1, nullptr, 0);
        if (key == "mp") mp = value != 0;
        else if (key == "cpus") p.cpus = static_cast<unsigned>(value);
        else if (key == "max_cpus") p.maxCpus = static_cast<unsigned>(value);
        else if (key == "pm_event_port") p.pmEventPort = static_cast<uint16_t>(value);
        else if (key == "pm_control_port") p.pmControlPort = static_cast<uint16_t>(value);
        else if (key == "s5") p.s5SlpTyp = static_cast<uint8_t>(value);
        else if (key == "pci_ecam") { p.pciEcamBase = value; p.pciBusEnd = 0xff; }
        else if (key == "pci_mmio32") p.pciMmio32Base = static_cast<uint32_t>(value);
        else if (key == "pci_mmio32_size") p.pciMmio32Size = static_cast<uint32_t>(value);
        else if (key == "pci_mmio64") p.pciMmio64Base = value;
        else if (key == "pci_mmio64_size") p.pciMmio64Size = value;
        else {
            std::cerr << "unknown key " << key << "\n";
            return 2;
        }
    }
    try {
        auto blobs = mp ? mica::x86::buildMpTable(p, base) : mica::x86::buildAcpiTables(p, base, base + 0x1000);
        std::vector<uint8_t> image;
        for (const auto& blob : blobs) {
            std::size_t end = blob.gpa - base + blob.bytes.size();
            if (image.size() < end)
                image.resize(end, 0);
            std::copy(blob.bytes.begin(), blob.bytes.end(), image.begin() + static_cast<long>(blob.gpa - base));
        }
        std::ofstream(argv[1], std::ios::binary)
            .write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}

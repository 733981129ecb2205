// libFuzzer target: the <domainsnapshot> XML a client sends with
// virDomainSnapshotCreateXML is untrusted input, and so (less so) is a metadata file.
// Anything may be refused (ConfError); nothing may crash, leak or throw anything else.
// What parses must format, and the formatted metadata must parse to the same again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ConfError.h"
#include "SnapshotXml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string xml(reinterpret_cast<const char*>(data), size);
    for (bool metadata : {false, true}) {
        try {
            auto def = metadata ? mica::conf::parseSnapshotMetadata(xml) : mica::conf::parseSnapshotXml(xml);
            if (def.name.empty())
                def.name = "fuzz";
            for (auto& disk : def.disks)
                if (disk.snapshot == mica::conf::SnapshotDiskDef::Mode::External && disk.file.empty())
                    disk.file = "/overlay";
            std::string out = mica::conf::formatSnapshotXml(def, true);
            auto again = mica::conf::parseSnapshotMetadata(out);
            if (mica::conf::formatSnapshotXml(again, true) != out)
                __builtin_trap();   // format -> parse -> format must be a fixed point
        } catch (const mica::conf::ConfError&) {
        }
    }
    return 0;
}

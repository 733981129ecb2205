// libFuzzer target: domain XML from a client is untrusted input. Anything may be
// refused (ConfError); nothing may crash, leak or throw anything else. What parses must
// also format and translate, and the formatted XML must parse again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ConfError.h"
#include "DomainXmlFormatter.h"
#include "DomainXmlParser.h"
#include "VmConfigTranslator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string xml(reinterpret_cast<const char*>(data), size);
    try {
        auto def = mica::conf::parseDomainXml(xml, 0);
        std::string out = mica::conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE);
        (void)mica::conf::toVmConfig(def, mica::conf::RuntimePaths{});
        auto again = mica::conf::parseDomainXml(out, 0);
        if (mica::conf::formatDomainXml(again, VIR_DOMAIN_XML_INACTIVE) != out)
            __builtin_trap();  // format -> parse -> format must be a fixed point
    } catch (const mica::conf::ConfError&) {
    }
    return 0;
}

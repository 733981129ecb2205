// mica-xml2config: what virtmicad makes of a domain XML, for people and golden tests.
// Prints the VmConfig JSON mica-vmm would get (or the formatted XML, or the host
// actions), or the error `virsh define` would report.
#include <getopt.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ConfError.h"
#include "DomainXmlFormatter.h"
#include "DomainXmlParser.h"
#include "VmConfigTranslator.h"
#include "i18n.h"

namespace {

void usage(FILE* to)
{
    std::fputs(_("Usage: mica-xml2config FILE.xml [--validate] [--format [--live]] [--host-actions]\n"
                 "                      [--state-dir DIR]\n"
                 "Parses libvirt domain XML as virtmicad does and prints the VmConfig JSON for\n"
                 "mica-vmm; --format prints the domain XML as virsh dumpxml would instead (--live: as\n"
                 "for a running domain), --host-actions the TAP devices the daemon would create.\n"
                 "--validate checks the XML against libvirt's domain.rng first.\n"),
               to);
}

}  // namespace

int main(int argc, char** argv)
{
    mica::initI18n();
    enum { OptValidate = 256, OptFormat, OptLive, OptHostActions, OptStateDir, OptHelp };
    static const option longopts[] = {
        {"validate", no_argument, nullptr, OptValidate},
        {"format", no_argument, nullptr, OptFormat},
        {"live", no_argument, nullptr, OptLive},
        {"host-actions", no_argument, nullptr, OptHostActions},
        {"state-dir", required_argument, nullptr, OptStateDir},
        {"help", no_argument, nullptr, OptHelp},
        {nullptr, 0, nullptr, 0},
    };
    bool validate = false, format = false, live = false, hostActions = false;
    mica::conf::RuntimePaths paths;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
        switch (c) {
        case OptValidate: validate = true; break;
        case OptFormat: format = true; break;
        case OptLive: live = true; break;
        case OptHostActions: hostActions = true; break;
        case OptStateDir: paths.stateDir = optarg; break;
        case OptHelp: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    std::ifstream in(argv[optind]);
    if (!in) {
        std::fprintf(stderr, _("mica-xml2config: cannot read %s\n"), argv[optind]);
        return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        mica::conf::DomainDef def = mica::conf::parseDomainXml(ss.str(), validate ? VIR_DOMAIN_DEFINE_VALIDATE : 0);
        if (format) {
            std::cout << mica::conf::formatDomainXml(def, live ? 0u : unsigned(VIR_DOMAIN_XML_INACTIVE));
        } else {
            auto t = mica::conf::toVmConfig(def, paths);
            if (hostActions) {
                nlohmann::ordered_json actions = nlohmann::ordered_json::array();
                for (const auto& a : t.hostActions)
                    actions.push_back(a.toJson());
                std::cout << actions.dump(2) << "\n";
            } else {
                std::cout << t.config.dump(2) << "\n";
            }
        }
    } catch (const mica::conf::ConfError& e) {
        std::cerr << "error: " << mica::conf::errorCodeName(e.code()) << ": "
                  << mica::conf::errorCodePrefix(e.code()) << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

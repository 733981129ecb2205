// What the remote program needs to know about domains, and the seam where the domain
// lifecycle work plugs in: it implements this interface over its real domain list
// (and registers its own procedures on the Dispatcher). Until then the daemon serves
// an empty table, so every client sees a host with no domains.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "RemoteTypes.h"

namespace mica::driver {

class DomainTable {
public:
    virtual ~DomainTable() = default;

    // Domains matching virConnectListAllDomainsFlags (0 = all), ids current (-1 when
    // not running).
    virtual std::vector<rpc::DomainRef> listAll(std::uint32_t flags) const = 0;
    // Ids of running domains, for the pre-0.9 listing calls.
    virtual std::vector<std::int32_t> activeIds() const = 0;
    // Names of defined domains that are not running.
    virtual std::vector<std::string> inactiveNames() const = 0;
    // Running domains keep an idle daemon (--timeout) alive.
    virtual std::size_t activeCount() const = 0;
};

class EmptyDomainTable final : public DomainTable {
public:
    std::vector<rpc::DomainRef> listAll(std::uint32_t) const override { return {}; }
    std::vector<std::int32_t> activeIds() const override { return {}; }
    std::vector<std::string> inactiveNames() const override { return {}; }
    std::size_t activeCount() const override { return 0; }
};

}  // namespace mica::driver

// Domain event registrations of one client and the MESSAGE packets that deliver them.
//
// Two registration styles coexist in libvirt: the modern one (CONNECT_DOMAIN_EVENT_
// CALLBACK_REGISTER_ANY, per-callback ids, optional domain filter; every client since
// libvirt 1.2.1 uses it) and the legacy one (CONNECT_DOMAIN_EVENT_REGISTER_ANY, one
// registration per event id, no callback id in the event). Both are kept so old
// clients get events too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "RemoteTypes.h"

namespace mica::rpc {

class DomainEventRegistry {
public:
    struct Callback {
        std::int32_t callbackId;
        std::int32_t eventId;
        std::optional<Uuid> domain;   // only events of this domain; nullopt = all
    };

    // Modern registration; returns the new callback id.
    std::int32_t add(std::int32_t eventId, std::optional<Uuid> domain);
    // False when the id is not registered.
    bool remove(std::int32_t callbackId);
    // Legacy registration; false when this event id is already (or not) registered.
    bool addLegacy(std::int32_t eventId);
    bool removeLegacy(std::int32_t eventId);

    // Callback ids that want event eventId of domain uuid.
    std::vector<std::int32_t> matching(std::int32_t eventId, const Uuid& uuid) const;
    bool legacyWants(std::int32_t eventId) const;
    std::size_t size() const { return callbacks_.size() + legacy_.size(); }

private:
    std::vector<Callback> callbacks_;
    std::vector<std::int32_t> legacy_;
    std::int32_t nextId_ = 0;   // libvirtd hands out 0, 1, 2, ... per connection
};

// The packets (length word included) that tell one client about a lifecycle event
// (virDomainEventType / detail), one per matching registration.
std::vector<std::vector<std::uint8_t>> lifecycleEventPackets(const DomainEventRegistry& registry,
                                                             const DomainRef& dom,
                                                             std::int32_t event,
                                                             std::int32_t detail);
// ... and about a guest reboot (VIR_DOMAIN_EVENT_ID_REBOOT).
std::vector<std::vector<std::uint8_t>> rebootEventPackets(const DomainEventRegistry& registry, const DomainRef& dom);

// ... and about a block job (virConnectDomainEventBlockJobStatus of a
// virDomainBlockJobType): VIR_DOMAIN_EVENT_ID_BLOCK_JOB names the disk by its image's
// path, VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2 by its target ("vda"). BLOCK_JOB_2 came after
// the callback style and has no legacy form.
std::vector<std::vector<std::uint8_t>> blockJobEventPackets(const DomainEventRegistry& registry, const DomainRef& dom,
                                                            const std::string& path, const std::string& target,
                                                            std::int32_t type, std::int32_t status);

// ... and about a device of the running domain, by its alias: eventId is
// VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, _DEVICE_REMOVED (the only one with a legacy form) or
// _DEVICE_REMOVAL_FAILED.
std::vector<std::vector<std::uint8_t>> deviceEventPackets(const DomainEventRegistry& registry, const DomainRef& dom,
                                                          std::int32_t eventId, const std::string& alias);

// ... and about a changed title, description or metadata element (virDomainMetadataType;
// nsUri names the element's namespace). No legacy form.
std::vector<std::vector<std::uint8_t>> metadataChangeEventPackets(const DomainEventRegistry& registry,
                                                                  const DomainRef& dom, std::int32_t type,
                                                                  const std::optional<std::string>& nsUri);

}  // namespace mica::rpc

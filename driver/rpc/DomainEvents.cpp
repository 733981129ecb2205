#include "DomainEvents.h"

#include <libvirt/libvirt.h>

#include <algorithm>
#include <functional>

#include "Packet.h"
#include "Protocol.h"

namespace mica::rpc {

std::int32_t DomainEventRegistry::add(std::int32_t eventId, std::optional<Uuid> domain)
{
    std::int32_t id = nextId_++;
    callbacks_.push_back({id, eventId, domain});
    return id;
}

bool DomainEventRegistry::remove(std::int32_t callbackId)
{
    auto it = std::find_if(callbacks_.begin(), callbacks_.end(),
                           [&](const Callback& c) { return c.callbackId == callbackId; });
    if (it == callbacks_.end())
        return false;
    callbacks_.erase(it);
    return true;
}

bool DomainEventRegistry::addLegacy(std::int32_t eventId)
{
    if (legacyWants(eventId))
        return false;
    legacy_.push_back(eventId);
    return true;
}

bool DomainEventRegistry::removeLegacy(std::int32_t eventId)
{
    auto it = std::find(legacy_.begin(), legacy_.end(), eventId);
    if (it == legacy_.end())
        return false;
    legacy_.erase(it);
    return true;
}

std::vector<std::int32_t> DomainEventRegistry::matching(std::int32_t eventId, const Uuid& uuid) const
{
    std::vector<std::int32_t> ids;
    for (const auto& c : callbacks_)
        if (c.eventId == eventId && (!c.domain || *c.domain == uuid))
            ids.push_back(c.callbackId);
    return ids;
}

bool DomainEventRegistry::legacyWants(std::int32_t eventId) const
{
    return std::find(legacy_.begin(), legacy_.end(), eventId) != legacy_.end();
}

namespace {

// The packets of one event: per matching modern callback (callback id, then the body)
// on callbackProc, and the legacy form (body only) on legacyProc.
// legacyProc 0: the event has no legacy form.
std::vector<std::vector<std::uint8_t>> eventPackets(const DomainEventRegistry& registry, const DomainRef& dom,
                                                    std::int32_t eventId, std::int32_t callbackProc,
                                                    std::int32_t legacyProc,
                                                    const std::function<void(XdrEncoder&)>& body)
{
    std::vector<std::vector<std::uint8_t>> packets;
    // libvirtd sends events with serial 1 although the .x says 0; clients ignore it.
    Header h{kRemoteProgram, kRemoteVersion, callbackProc, MessageType::Message, 1, MessageStatus::Ok};
    for (std::int32_t id : registry.matching(eventId, dom.uuid)) {
        XdrEncoder enc;
        enc.putI32(id);
        encodeDomain(enc, dom);
        body(enc);
        packets.push_back(encodePacket(h, enc.bytes()));
    }
    if (legacyProc && registry.legacyWants(eventId)) {
        XdrEncoder enc;
        encodeDomain(enc, dom);
        body(enc);
        h.proc = legacyProc;
        packets.push_back(encodePacket(h, enc.bytes()));
    }
    return packets;
}

}  // namespace

std::vector<std::vector<std::uint8_t>> lifecycleEventPackets(const DomainEventRegistry& registry,
                                                             const DomainRef& dom,
                                                             std::int32_t event,
                                                             std::int32_t detail)
{
    return eventPackets(registry, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE, kProcDomainEventCallbackLifecycle,
                        kProcDomainEventLifecycle, [&](XdrEncoder& enc) {
                            enc.putI32(event);
                            enc.putI32(detail);
                        });
}

std::vector<std::vector<std::uint8_t>> rebootEventPackets(const DomainEventRegistry& registry, const DomainRef& dom)
{
    return eventPackets(registry, dom, VIR_DOMAIN_EVENT_ID_REBOOT, kProcDomainEventCallbackReboot,
                        kProcDomainEventReboot, [](XdrEncoder&) {});
}

std::vector<std::vector<std::uint8_t>> blockJobEventPackets(const DomainEventRegistry& registry, const DomainRef& dom,
                                                            const std::string& path, const std::string& target,
                                                            std::int32_t type, std::int32_t status)
{
    auto body = [&](const std::string& disk) {
        return [&, disk](XdrEncoder& enc) {
            enc.putString(disk);
            enc.putI32(type);
            enc.putI32(status);
        };
    };
    auto packets = eventPackets(registry, dom, VIR_DOMAIN_EVENT_ID_BLOCK_JOB, kProcDomainEventCallbackBlockJob,
                                kProcDomainEventBlockJob, body(path));
    for (auto& p : eventPackets(registry, dom, VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, kProcDomainEventBlockJob2, 0, body(target)))
        packets.push_back(std::move(p));
    return packets;
}

std::vector<std::vector<std::uint8_t>> deviceEventPackets(const DomainEventRegistry& registry, const DomainRef& dom,
                                                          std::int32_t eventId, const std::string& alias)
{
    std::int32_t callbackProc = 0, legacyProc = 0;
    switch (eventId) {
    case VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED:
        callbackProc = kProcDomainEventCallbackDeviceRemoved;
        legacyProc = kProcDomainEventDeviceRemoved;
        break;
    case VIR_DOMAIN_EVENT_ID_DEVICE_ADDED: callbackProc = kProcDomainEventCallbackDeviceAdded; break;
    case VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED: callbackProc = kProcDomainEventCallbackDeviceRemovalFailed; break;
    default: return {};
    }
    return eventPackets(registry, dom, eventId, callbackProc, legacyProc,
                        [&](XdrEncoder& enc) { enc.putString(alias); });
}

std::vector<std::vector<std::uint8_t>> metadataChangeEventPackets(const DomainEventRegistry& registry,
                                                                  const DomainRef& dom, std::int32_t type,
                                                                  const std::optional<std::string>& nsUri)
{
    return eventPackets(registry, dom, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, kProcDomainEventCallbackMetadataChange, 0,
                        [&](XdrEncoder& enc) {
                            enc.putI32(type);
                            enc.putOptionalString(nsUri);
                        });
}

}  // namespace mica::rpc

#include "DeviceXml.h"

#include <libvirt/virterror.h>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "VmConfigTranslator.h"
#include "i18n.h"

namespace mica::conf {

namespace {

[[noreturn]] void clash(const std::string& message)
{
    throw ConfError(VIR_ERR_OPERATION_INVALID, message);
}

[[noreturn]] void missing(const std::string& message)
{
    throw ConfError(VIR_ERR_DEVICE_MISSING, message);
}

// The device parse put into `scratch` (which held none of its kind before).
DeviceDef takeParsed(const std::string& element, DomainDef& scratch)
{
    if (element == "disk")
        return {scratch.disks.back()};
    if (element == "interface")
        return {scratch.nets.back()};
    if (element == "console")
        return {*scratch.console};
    if (element == "rng")
        return {*scratch.rng};
    return {*scratch.vsock};
}

}  // namespace

const std::string& DeviceDef::alias() const
{
    return std::visit([](const auto& d) -> const std::string& { return d.alias; }, device);
}

std::string DeviceDef::what() const
{
    if (auto* d = std::get_if<DiskDef>(&device))
        return "disk '" + d->target + "'";
    if (auto* n = std::get_if<NetDef>(&device))
        return "interface " + n->mac;
    if (std::holds_alternative<ConsoleDef>(device))
        return "console";
    if (std::holds_alternative<RngDef>(device))
        return "rng";
    return "vsock";
}

DeviceDef parseDeviceXml(const std::string& xml, const DomainDef& domain, DeviceXmlUse use)
{
    XmlDocPtr doc = parseXmlDocument(xml, "(device_definition)");
    xmlNode* root = xmlDocGetRootElement(doc.get());
    std::string element = nodeName(root);
    if (use == DeviceXmlUse::Detach && element == "disk") {
        for (xmlNode* c = root->children; c;) {
            xmlNode* next = c->next;
            if (c->type == XML_ELEMENT_NODE && nodeName(c) == "backingStore") {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
            } else if (c->type == XML_ELEMENT_NODE && nodeName(c) == "source") {
                xmlUnsetProp(c, BAD_CAST "index");
            }
            c = next;
        }
    }
    // A serial console is COM1, which no domain gains or loses while it exists.
    if (element == "console") {
        ElementReader console(root, "console");
        std::string type = "serial";
        if (xmlNode* t = console.child("target"))
            type = ElementReader(t, "console").attr("type").value_or("serial");
        if (type != "virtio")
            unsupported(_("only a virtio console can be attached or detached: mica's serial console is COM1, "
                          "part of every domain"));
    }
    // Parsed alone: a whole domain's checks between devices of one kind are the ones
    // below, which say what a clash is the way libvirt's QEMU driver does.
    DomainDef scratch;
    if (use == DeviceXmlUse::Attach) {
        scratch.console = domain.console;
        scratch.rng = domain.rng;
        scratch.vsock = domain.vsock;
    }
    if (!detail::parseHotpluggable(root, scratch)) {
        if (element == "memballoon")
            unsupported(_("a memballoon cannot be attached or detached: it is part of the domain from its start"));
        detail::refuseDevice(root);
    }
    DeviceDef parsed = takeParsed(element, scratch);
    if (use == DeviceXmlUse::Detach)
        return parsed;
    // As in a definition, only the user's aliases are taken; the daemon names the rest.
    if (!isUserAlias(parsed.alias()))
        std::visit([](auto& d) { d.alias.clear(); }, parsed.device);

    if (auto* disk = std::get_if<DiskDef>(&parsed.device)) {
        for (const auto& d : domain.disks)
            if (d.target == disk->target)
                clash(subst(_("target %1 already exists"), {disk->target}));
    }
    if (auto* net = std::get_if<NetDef>(&parsed.device); net && !net->mac.empty()) {
        for (const auto& n : domain.nets)
            if (n.mac == net->mac)
                clash(subst(_("interface with MAC address %1 already exists"), {net->mac}));
    }
    if (!parsed.alias().empty() && hasAlias(domain, parsed.alias()))
        clash(subst(_("non unique alias detected: %1"), {parsed.alias()}));
    // The domain with the device added gives it what a whole definition would; every
    // device the domain already has keeps its alias and slot.
    DomainDef candidate = domain;
    addDevice(candidate, parsed);
    detail::completeDevices(candidate);
    if (std::holds_alternative<DiskDef>(parsed.device))
        return {candidate.disks.back()};
    if (std::holds_alternative<NetDef>(parsed.device))
        return {candidate.nets.back()};
    if (std::holds_alternative<ConsoleDef>(parsed.device))
        return {*candidate.console};
    if (std::holds_alternative<RngDef>(parsed.device))
        return {*candidate.rng};
    return {*candidate.vsock};
}

bool hasAlias(const DomainDef& domain, const std::string& alias)
{
    for (const auto& device : pciDevices(domain))
        if (*device.alias == alias)
            return true;
    return false;
}

std::optional<DeviceDef> deviceByAlias(const DomainDef& domain, const std::string& alias)
{
    for (const auto& d : domain.disks)
        if (d.alias == alias)
            return DeviceDef{d};
    for (const auto& n : domain.nets)
        if (n.alias == alias)
            return DeviceDef{n};
    if (domain.console && domain.console->alias == alias)
        return DeviceDef{*domain.console};
    if (domain.rng && domain.rng->alias == alias)
        return DeviceDef{*domain.rng};
    if (domain.vsock && domain.vsock->alias == alias)
        return DeviceDef{*domain.vsock};
    return std::nullopt;
}

std::string findDevice(const DomainDef& domain, const DeviceDef& device)
{
    std::string found;
    if (auto* disk = std::get_if<DiskDef>(&device.device)) {
        for (const auto& d : domain.disks)
            if (d.target == disk->target)
                found = d.alias;
        if (found.empty())
            missing(subst(_("no target device %1"), {disk->target}));
    } else if (auto* net = std::get_if<NetDef>(&device.device)) {
        if (net->mac.empty()) {
            // No MAC: the alias names it, or the domain's only NIC is meant (libvirt's rule).
            if (!net->alias.empty() && deviceByAlias(domain, net->alias) &&
                std::holds_alternative<NetDef>(deviceByAlias(domain, net->alias)->device))
                found = net->alias;
            else if (net->alias.empty() && domain.nets.size() == 1)
                found = domain.nets[0].alias;
            else
                missing(_("no interface given by a MAC address or alias matches one of the domain"));
        } else {
            for (const auto& n : domain.nets)
                if (n.mac == net->mac)
                    found = n.alias;
            if (found.empty())
                missing(subst(_("no device matching MAC address %1 found"), {net->mac}));
        }
    } else {
        const std::string* alias = nullptr;
        if (std::holds_alternative<ConsoleDef>(device.device) && domain.console)
            alias = &domain.console->alias;
        else if (std::holds_alternative<RngDef>(device.device) && domain.rng)
            alias = &domain.rng->alias;
        else if (std::holds_alternative<VsockDef>(device.device) && domain.vsock)
            alias = &domain.vsock->alias;
        if (!alias)
            missing(subst(_("%1 device not present in domain configuration"), {device.what()}));
        found = *alias;
    }
    if (!device.alias().empty() && device.alias() != found)
        missing(subst(_("%1 has alias '%2', not '%3'"), {device.what(), found, device.alias()}));
    return found;
}

void addDevice(DomainDef& domain, const DeviceDef& device)
{
    std::visit(
        [&](const auto& d) {
            using T = std::decay_t<decltype(d)>;
            if constexpr (std::is_same_v<T, DiskDef>)
                domain.disks.push_back(d);
            else if constexpr (std::is_same_v<T, NetDef>)
                domain.nets.push_back(d);
            else if constexpr (std::is_same_v<T, ConsoleDef>)
                domain.console = d;
            else if constexpr (std::is_same_v<T, RngDef>)
                domain.rng = d;
            else
                domain.vsock = d;
        },
        device.device);
}

bool removeDevice(DomainDef& domain, const std::string& alias)
{
    for (auto it = domain.disks.begin(); it != domain.disks.end(); ++it)
        if (it->alias == alias) {
            domain.disks.erase(it);
            return true;
        }
    for (auto it = domain.nets.begin(); it != domain.nets.end(); ++it)
        if (it->alias == alias) {
            domain.nets.erase(it);
            return true;
        }
    if (domain.console && domain.console->alias == alias)
        domain.console.reset();
    else if (domain.rng && domain.rng->alias == alias)
        domain.rng.reset();
    else if (domain.vsock && domain.vsock->alias == alias)
        domain.vsock.reset();
    else
        return false;
    return true;
}

}  // namespace mica::conf

#include "SnapshotXml.h"

#include <libvirt/virterror.h>

#include <charconv>
#include <set>

#include "ConfError.h"
#include "Xml.h"
#include "i18n.h"

namespace mica::conf {

namespace {

// The longest snapshot name: its file name (NAME.xml) must fit NAME_MAX.
constexpr size_t kMaxNameLength = 200;

SnapshotDiskDef parseDisk(xmlNode* node)
{
    ElementReader el(node, "domainsnapshot/disks/disk");
    SnapshotDiskDef disk;
    disk.name = el.requireAttr("name");
    if (disk.name.empty())
        invalidXml(_("domainsnapshot: a <disk> has an empty name"));
    el.setContext(subst(_("snapshot disk '%1'"), {disk.name}));
    auto mode = el.attrOneOf("snapshot", {"external", "no", "internal", "manual"}).value_or("external");
    if (mode == "internal" || mode == "manual")
        unsupported(subst(_("snapshot disk '%1': snapshot='%2' is not supported by mica (only 'external' or 'no')"),
                          {disk.name, mode}));
    disk.snapshot = mode == "no" ? SnapshotDiskDef::Mode::No : SnapshotDiskDef::Mode::External;
    auto type = el.attrOneOf("type", {"file", "block", "network", "volume", "dir", "nvme", "vhostuser"});
    if (type && *type != "file")
        unsupported(subst(_("snapshot disk '%1': an overlay of type '%2' is not supported by mica (only 'file')"),
                          {disk.name, *type}));
    if (xmlNode* drv = el.child("driver")) {
        ElementReader d(drv, el.context() + "/driver");
        if (auto t = d.attr("type")) {
            if (*t != "qcow2")
                unsupported(subst(_("snapshot disk '%1': an overlay of format '%2' is not supported by mica (only qcow2)"),
                                  {disk.name, *t}));
        }
        d.finish();
    }
    if (xmlNode* src = el.child("source")) {
        ElementReader s(src, el.context() + "/source");
        disk.file = s.attr("file").value_or("");
        if (disk.file.empty())
            invalidXml(subst(_("snapshot disk '%1': <source> needs a file"), {disk.name}));
        if (disk.file[0] != '/')
            invalidXml(subst(_("snapshot disk '%1': the overlay's path '%2' is not absolute"), {disk.name, disk.file}));
        s.finish();
    }
    if (disk.snapshot == SnapshotDiskDef::Mode::No && !disk.file.empty())
        invalidXml(subst(_("snapshot disk '%1': snapshot='no' takes no <source>"), {disk.name}));
    el.finish();
    return disk;
}

// Shared by both readers; `metadata` admits the daemon's own elements.
SnapshotDef parse(const std::string& xml, bool metadata)
{
    XmlDocPtr doc = parseXmlDocument(xml, "domainsnapshot");
    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (nodeName(root) != "domainsnapshot")
        invalidXml(subst(_("expected a <domainsnapshot> element, not <%1>"), {nodeName(root)}));
    ElementReader el(root, "domainsnapshot");
    SnapshotDef def;
    if (xmlNode* n = el.child("name")) {
        def.name = ElementReader(n, "domainsnapshot/name").text();
        checkSnapshotName(def.name);
    }
    if (xmlNode* n = el.child("description"))
        def.description = ElementReader(n, "domainsnapshot/description").text();
    if (xmlNode* n = el.child("memory")) {
        ElementReader m(n, "domainsnapshot/memory");
        auto file = m.attr("file");
        // As libvirt: a file without a mode makes the memory snapshot external.
        auto mode = m.attrOneOf("snapshot", {"no", "internal", "external", "manual"}).value_or(file ? "external" : "no");
        if (mode == "internal" || mode == "manual")
            unsupported(subst(_("domainsnapshot: memory snapshot='%1' is not supported by mica: the memory goes to "
                                "a file of its own (snapshot='external' file='...', virsh --memspec) or nowhere "
                                "(--disk-only)"), {mode}));
        if (mode == "no" && file)
            invalidXml(_("domainsnapshot: <memory> names a file but saves no memory"));
        if (mode == "external") {
            if (!file || file->empty())
                invalidXml(_("domainsnapshot: memory snapshot='external' needs a file"));
            if ((*file)[0] != '/')
                invalidXml(subst(_("domainsnapshot: the memory file '%1' is not an absolute path"), {*file}));
            def.memoryFile = *file;
        }
        m.finish();
    }
    if (xmlNode* n = el.child("disks")) {
        ElementReader disks(n, "domainsnapshot/disks");
        std::set<std::string> seen;
        for (xmlNode* d : disks.children("disk")) {
            def.disks.push_back(parseDisk(d));
            if (!seen.insert(def.disks.back().name).second)
                unsupported(subst(_("snapshot disk '%1' is named twice"), {def.disks.back().name}));
        }
        disks.finish();
    }
    if (metadata) {
        xmlNode* time = el.child("creationTime");
        if (!time)
            invalidXml(_("domainsnapshot metadata: no <creationTime>"));
        std::string text = ElementReader(time, "creationTime").text();
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), def.creationTime);
        if (ec != std::errc() || end != text.data() + text.size())
            invalidXml(subst(_("domainsnapshot metadata: creationTime '%1' is not a number"), {text}));
        if (xmlNode* n = el.child("state"))
            def.state = ElementReader(n, "state").text();
        if (xmlNode* p = el.child("parent")) {
            ElementReader parent(p, "parent");
            if (xmlNode* n = parent.child("name"))
                def.parent = ElementReader(n, "parent/name").text();
            parent.finish();
        }
        if (xmlNode* d = el.child("domain"))
            def.domainXml = serializeElement(d);
        if (xmlNode* a = el.child("active"))
            def.current = ElementReader(a, "active").text() == "1";
        if (def.name.empty())
            invalidXml(_("domainsnapshot metadata: no <name>"));
    } else {
        for (const char* given : {"creationTime", "state", "parent", "domain", "active", "inactiveDomain", "cookie"})
            if (el.child(given))
                unsupported(subst(_("domainsnapshot: <%1> is the daemon's to write; redefining snapshots "
                                    "(VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE) is not supported by mica"), {given}));
    }
    el.finish();
    return def;
}

}  // namespace

void checkSnapshotName(const std::string& name)
{
    if (name.empty())
        invalidXml(_("a snapshot name must not be empty"));
    if (name.size() > kMaxNameLength)
        invalidXml(subst(_("snapshot name '%1...' is longer than %2 bytes"), {name.substr(0, 32), std::to_string(kMaxNameLength)}));
    if (name.find('/') != std::string::npos)
        invalidXml(subst(_("invalid snapshot name '%1': name can't contain '/'"), {name}));
    if (name[0] == '.')
        invalidXml(subst(_("invalid snapshot name '%1': name can't start with '.'"), {name}));
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f)
            invalidXml(_("invalid snapshot name: it holds a control character"));
}

SnapshotDef parseSnapshotXml(const std::string& xml) { return parse(xml, false); }

SnapshotDef parseSnapshotMetadata(const std::string& xml) { return parse(xml, true); }

std::string formatSnapshotXml(const SnapshotDef& def, bool internal)
{
    XmlDocPtr doc(xmlNewDoc(BAD_CAST "1.0"));
    xmlNode* root = xmlNewDocNode(doc.get(), nullptr, BAD_CAST "domainsnapshot", nullptr);
    xmlDocSetRootElement(doc.get(), root);
    auto add = [&](xmlNode* parent, const char* name, const std::string& text = {}) {
        xmlNode* n = xmlNewDocNode(doc.get(), nullptr, BAD_CAST name, nullptr);
        if (!text.empty())
            xmlNodeAddContent(n, BAD_CAST text.c_str());   // escapes
        xmlAddChild(parent, n);
        return n;
    };
    auto set = [](xmlNode* n, const char* attr, const std::string& value) { xmlSetProp(n, BAD_CAST attr, BAD_CAST value.c_str()); };
    add(root, "name", def.name);
    if (!def.description.empty())
        add(root, "description", def.description);
    add(root, "state", def.state);
    if (!def.parent.empty())
        add(add(root, "parent"), "name", def.parent);
    add(root, "creationTime", std::to_string(def.creationTime));
    xmlNode* memory = add(root, "memory");
    set(memory, "snapshot", def.memoryFile.empty() ? "no" : "external");
    if (!def.memoryFile.empty())
        set(memory, "file", def.memoryFile);
    xmlNode* disks = add(root, "disks");
    for (const auto& d : def.disks) {
        xmlNode* n = add(disks, "disk");
        set(n, "name", d.name);
        if (d.snapshot == SnapshotDiskDef::Mode::No) {
            set(n, "snapshot", "no");
            continue;
        }
        set(n, "snapshot", "external");
        set(n, "type", "file");
        set(add(n, "driver"), "type", diskFormatName(d.format));
        set(add(n, "source"), "file", d.file);
    }
    if (!def.domainXml.empty()) {
        XmlDocPtr domain = parseXmlDocument(def.domainXml, "domain");
        xmlAddChild(root, xmlDocCopyNode(xmlDocGetRootElement(domain.get()), doc.get(), 1));
    }
    if (internal)
        add(root, "active", def.current ? "1" : "0");
    XmlBufferPtr buf(xmlBufferCreate());
    if (xmlNodeDump(buf.get(), doc.get(), root, 0, 1) < 0)
        throw ConfError(VIR_ERR_INTERNAL_ERROR, _("cannot serialize the snapshot XML"));
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf.get())), size_t(xmlBufferLength(buf.get()))) +
           "\n";
}

}  // namespace mica::conf

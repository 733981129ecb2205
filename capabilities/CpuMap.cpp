#include "CpuMap.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <stdexcept>

namespace mica::caps {

namespace {

struct XmlDocFree {
    void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocFree>;

XmlDocPtr parseFile(const std::string& path)
{
    XmlDocPtr doc(xmlReadFile(path.c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
    if (!doc || !xmlDocGetRootElement(doc.get()))
        throw std::runtime_error(path + ": cannot parse the libvirt CPU map file");
    return doc;
}

bool is(const xmlNode* n, const char* name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

std::string attr(const xmlNode* n, const char* name)
{
    xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
    if (!v)
        return {};
    std::string s(reinterpret_cast<const char*>(v));
    xmlFree(v);
    return s;
}

uint32_t hexAttr(const xmlNode* n, const char* name, const std::string& file)
{
    std::string s = attr(n, name);
    if (s.empty())
        return 0;
    try {
        return static_cast<uint32_t>(std::stoul(s, nullptr, 0));
    } catch (const std::exception&) {
        throw std::runtime_error(file + ": bad value '" + s + "' for " + name);
    }
}

}  // namespace

CpuMap CpuMap::load(const std::string& dir)
{
    CpuMap map;
    const std::string index = dir + "/index.xml";
    XmlDocPtr idx = parseFile(index);
    std::vector<std::string> files;
    for (xmlNode* a = xmlDocGetRootElement(idx.get())->children; a; a = a->next) {
        if (!is(a, "arch") || attr(a, "name") != "x86")
            continue;
        for (xmlNode* inc = a->children; inc; inc = inc->next)
            if (is(inc, "include"))
                files.push_back(dir + "/" + attr(inc, "filename"));
    }
    if (files.empty())
        throw std::runtime_error(index + ": no x86 section");

    for (const auto& file : files) {
        XmlDocPtr doc = parseFile(file);
        for (xmlNode* n = xmlDocGetRootElement(doc.get())->children; n; n = n->next) {
            if (is(n, "vendor")) {
                map.vendors_.push_back({attr(n, "name"), attr(n, "string")});
            } else if (is(n, "feature")) {
                CpuFeatureDef f;
                f.name = attr(n, "name");
                f.migratable = attr(n, "migratable") != "no";
                bool msr = false;
                for (xmlNode* c = n->children; c; c = c->next) {
                    if (is(c, "cpuid")) {
                        f.cpuid.push_back({hexAttr(c, "eax_in", file), hexAttr(c, "ecx_in", file),
                                           hexAttr(c, "eax", file), hexAttr(c, "ebx", file),
                                           hexAttr(c, "ecx", file), hexAttr(c, "edx", file)});
                    } else if (is(c, "msr")) {
                        msr = true;
                    } else if (is(c, "alias")) {
                        f.aliases.push_back(attr(c, "name"));
                    }
                }
                if (!f.cpuid.empty() || msr)
                    map.features_.push_back(std::move(f));
            } else if (is(n, "model")) {
                CpuModelDef m;
                m.name = attr(n, "name");
                for (xmlNode* c = n->children; c; c = c->next) {
                    if (is(c, "vendor"))
                        m.vendor = attr(c, "name");
                    else if (is(c, "feature"))
                        m.features.push_back(attr(c, "name"));
                    else if (is(c, "decode"))
                        m.decodeHost = attr(c, "host") != "off";
                    else if (is(c, "signature"))
                        m.signatures.push_back({static_cast<unsigned>(std::stoul(attr(c, "family"))),
                                                static_cast<unsigned>(std::stoul(attr(c, "model")))});
                    else if (is(c, "model"))
                        // Newer maps let a model start from another; this map version
                        // does not, and silently mis-decoding would be worse than failing.
                        throw std::runtime_error(file + ": model '" + m.name + "' inherits from another model");
                }
                map.models_.push_back(std::move(m));
            }
        }
    }
    return map;
}

const CpuFeatureDef* CpuMap::feature(const std::string& name) const
{
    for (const auto& f : features_)
        if (f.name == name)
            return &f;
    return nullptr;
}

const CpuFeatureDef* CpuMap::featureByKernelName(const std::string& flag) const
{
    auto kernelSpelling = [](std::string n) {
        for (auto& c : n)
            if (c == '.' || c == '-')
                c = '_';
        return n;
    };
    for (const auto& f : features_) {
        if (f.name == flag || kernelSpelling(f.name) == flag)
            return &f;
        for (const auto& a : f.aliases)
            if (a == flag)
                return &f;
    }
    return nullptr;
}

std::string CpuMap::vendorName(const std::string& cpuidVendorString) const
{
    for (const auto& v : vendors_)
        if (v.string == cpuidVendorString)
            return v.name;
    return {};
}

std::vector<std::string> CpuMap::presentFeatures(const CpuidData& data) const
{
    std::vector<std::string> names;
    for (const auto& f : features_) {
        if (f.cpuid.empty())
            continue;
        bool all = true;
        for (const auto& b : f.cpuid) {
            CpuidLeaf l = data.get(b.function, b.index);
            if ((l.eax & b.eax) != b.eax || (l.ebx & b.ebx) != b.ebx || (l.ecx & b.ecx) != b.ecx ||
                (l.edx & b.edx) != b.edx)
                all = false;
        }
        if (all)
            names.push_back(f.name);
    }
    return names;
}

}  // namespace mica::caps

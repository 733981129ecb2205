// Small domain XML builders and error matchers for the driver/conf unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ConfError.h"
#include "DomainXmlParser.h"

namespace mica::conf::test {

// A minimal valid domain with `devices` inside <devices> and `extra` after <os>.
inline std::string domainXml(const std::string& devices = "", const std::string& extra = "",
                             const std::string& top = "")
{
    return "<domain type='kvm'>\n  <name>t</name>\n  <uuid>11111111-2222-4333-8444-555555555555</uuid>\n" + top +
           "  <memory unit='MiB'>256</memory>\n  <os>\n    <type arch='x86_64'>hvm</type>\n"
           "    <kernel>/k</kernel>\n  </os>\n" +
           extra + "  <devices>\n" + devices + "  </devices>\n</domain>\n";
}

// Parses `xml` expecting a ConfError with `code`; returns its message.
inline std::string parseError(const std::string& xml, virErrorNumber code, unsigned flags = 0)
{
    try {
        parseDomainXml(xml, flags);
    } catch (const ConfError& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "parsed without error:\n" << xml;
    return {};
}

}  // namespace mica::conf::test

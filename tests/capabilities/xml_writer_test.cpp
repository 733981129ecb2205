#include <gtest/gtest.h>

#include <vector>

#include "XmlWriter.h"

namespace mica::caps {
namespace {

TEST(XmlWriter, EscapesTextAndAttributes)
{
    XmlWriter w;
    w.open("a", {{"x", "it's <\"&\">"}});
    w.text("b", "1 < 2 && 3 > 2");
    w.enumeration("e", std::vector<std::string>{});
    w.enumeration("f", std::vector<std::string>{"v"});
    w.close("a");
    EXPECT_EQ(w.str(),
              "<a x='it&apos;s &lt;&quot;&amp;&quot;&gt;'>\n"
              "  <b>1 &lt; 2 &amp;&amp; 3 &gt; 2</b>\n"
              "  <enum name='e'/>\n"
              "  <enum name='f'>\n"
              "    <value>v</value>\n"
              "  </enum>\n"
              "</a>\n");
    EXPECT_EQ(XmlWriter::escape(std::string("a\x01" "b")), "a?b");
}

}  // namespace
}  // namespace mica::caps

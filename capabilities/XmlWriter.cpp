#include "XmlWriter.h"

#include "XmlEscape.h"

namespace mica::caps {

std::string XmlWriter::escape(std::string_view s)
{
    return xmlEscape(s);
}

void XmlWriter::start(std::string_view name, Attrs attrs)
{
    out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
    out_ += '<';
    out_ += name;
    for (const auto& [k, v] : attrs) {
        out_ += ' ';
        out_ += k;
        out_ += "='";
        out_ += escape(v);
        out_ += '\'';
    }
}

void XmlWriter::open(std::string_view name, Attrs attrs)
{
    start(name, attrs);
    out_ += ">\n";
    ++depth_;
}

void XmlWriter::close(std::string_view name)
{
    --depth_;
    out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
    out_ += "</";
    out_ += name;
    out_ += ">\n";
}

void XmlWriter::empty(std::string_view name, Attrs attrs)
{
    start(name, attrs);
    out_ += "/>\n";
}

void XmlWriter::text(std::string_view name, std::string_view value, Attrs attrs)
{
    start(name, attrs);
    out_ += '>';
    out_ += escape(value);
    out_ += "</";
    out_ += name;
    out_ += ">\n";
}

}  // namespace mica::caps

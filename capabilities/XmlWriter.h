// A small indenting XML writer with libvirt's look (two-space indent, single-quoted
// attributes) and correct escaping of text and attribute values.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mica::caps {

class XmlWriter {
public:
    using Attrs = std::initializer_list<std::pair<std::string_view, std::string_view>>;

    void open(std::string_view name, Attrs attrs = {});
    void close(std::string_view name);
    void empty(std::string_view name, Attrs attrs = {});
    void text(std::string_view name, std::string_view value, Attrs attrs = {});
    // <enum name='NAME'> with one <value> per entry (self-closing when there are none).
    template <typename Range>
    void enumeration(std::string_view name, const Range& values)
    {
        bool any = false;
        for (const auto& v : values) {
            if (!any)
                open("enum", {{"name", name}});
            any = true;
            text("value", v);
        }
        if (any)
            close("enum");
        else
            empty("enum", {{"name", name}});
    }
    const std::string& str() const { return out_; }

    static std::string escape(std::string_view s);

private:
    void start(std::string_view name, Attrs attrs);
    std::string out_;
    int depth_ = 0;
};

}  // namespace mica::caps

// A Jinja-subset interpreter for chat templates (chat_template.h). Structure as Jinja2's
// own: lexer.py (text / variable / block / comment tokens with whitespace control),
// parser.py (statements; expressions by precedence: condexpr, or, and, not, compare,
// math1 + -, concat ~, math2 * / // %, pow **, unary, primary + postfix + filters/tests),
// and a tree-walking renderer over Python-like values.
#include "lmkit/infer/chat_template.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "lmkit/core/error.h"

namespace lmkit {

using json = nlohmann::ordered_json;

namespace {

// ------------------------------------------------------------------------ values

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // Python dicts keep insertion order
struct Args;
using Func = std::function<Value(Args&)>;

struct Value {
  enum class K { Undefined, None, Bool, Int, Float, Str, List, Dict, Func } k = K::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<Func> fn;
  bool ns = false;  // a namespace() object (attribute assignment allowed)
  std::string undefined_name;

  static Value undef(std::string name = "") {
    Value v;
    v.undefined_name = std::move(name);
    return v;
  }
  static Value none() { Value v; v.k = K::None; return v; }
  static Value boolean(bool x) { Value v; v.k = K::Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.k = K::Int; v.i = x; return v; }
  static Value number(double x) { Value v; v.k = K::Float; v.f = x; return v; }
  static Value str(std::string x) { Value v; v.k = K::Str; v.s = std::move(x); return v; }
  static Value of_list(List l) { Value v; v.k = K::List; v.list = std::make_shared<List>(std::move(l)); return v; }
  static Value of_dict(Dict d) { Value v; v.k = K::Dict; v.dict = std::make_shared<Dict>(std::move(d)); return v; }
  static Value func(Func f) { Value v; v.k = K::Func; v.fn = std::make_shared<Func>(std::move(f)); return v; }

  bool is_undefined() const { return k == K::Undefined; }
  bool is_none() const { return k == K::None; }
  bool is_str() const { return k == K::Str; }
  bool is_num() const { return k == K::Int || k == K::Float; }
  double as_double() const { return k == K::Int ? double(i) : k == K::Float ? f : double(b); }
  const Value* get(const std::string& key) const {
    if (k != K::Dict) return nullptr;
    for (const auto& [kk, vv] : *dict)
      if (kk == key) return &vv;
    return nullptr;
  }
  void set(const std::string& key, Value v) {
    for (auto& [kk, vv] : *dict)
      if (kk == key) {
        vv = std::move(v);
        return;
      }
    dict->emplace_back(key, std::move(v));
  }
};

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  const Value* named(const std::string& name) const {
    for (const auto& [k, v] : kw)
      if (k == name) return &v;
    return nullptr;
  }
  // Positional argument i, or keyword `name`, or nullptr.
  const Value* arg(size_t i, const std::string& name) const {
    if (i < pos.size()) return &pos[i];
    return named(name);
  }
};

Value from_json(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return Value::none();
    case json::value_t::boolean: return Value::boolean(j.get<bool>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return Value::integer(j.get<int64_t>());
    case json::value_t::number_float: return Value::number(j.get<double>());
    case json::value_t::string: return Value::str(j.get<std::string>());
    case json::value_t::array: {
      List l;
      for (const auto& e : j) l.push_back(from_json(e));
      return Value::of_list(std::move(l));
    }
    case json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d.emplace_back(it.key(), from_json(it.value()));
      return Value::of_dict(std::move(d));
    }
    default: return Value::none();
  }
}

bool truthy(const Value& v) {
  switch (v.k) {
    case Value::K::Undefined:
    case Value::K::None: return false;
    case Value::K::Bool: return v.b;
    case Value::K::Int: return v.i != 0;
    case Value::K::Float: return v.f != 0;
    case Value::K::Str: return !v.s.empty();
    case Value::K::List: return !v.list->empty();
    case Value::K::Dict: return !v.dict->empty();
    case Value::K::Func: return true;
  }
  return false;
}

// Python repr() of a float: shortest round-trip digits, ".0" for integral values.
std::string py_float(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", x);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string py_repr(const Value& v);

// str(v) as Jinja prints it.
std::string to_str(const Value& v) {
  switch (v.k) {
    case Value::K::Undefined: return "";
    case Value::K::None: return "None";
    case Value::K::Bool: return v.b ? "True" : "False";
    case Value::K::Int: return std::to_string(v.i);
    case Value::K::Float: return py_float(v.f);
    case Value::K::Str: return v.s;
    default: return py_repr(v);
  }
}

std::string py_str_repr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char ch : s) {
    if (ch == q || ch == '\\') out += '\\', out += ch;
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch == '\r') out += "\\r";
    else out += ch;
  }
  return out + q;
}

std::string py_repr(const Value& v) {
  switch (v.k) {
    case Value::K::Str: return py_str_repr(v.s);
    case Value::K::List: {
      std::string s = "[";
      for (size_t i = 0; i < v.list->size(); ++i) s += (i ? ", " : "") + py_repr((*v.list)[i]);
      return s + "]";
    }
    case Value::K::Dict: {
      std::string s = v.ns ? "<Namespace {" : "{";
      size_t i = 0;
      for (const auto& [k, x] : *v.dict) s += (i++ ? ", " : "") + py_str_repr(k) + ": " + py_repr(x);
      return s + (v.ns ? "}>" : "}");
    }
    case Value::K::Func: return "<function>";
    default: return to_str(v);
  }
}

// json.dumps(v, ensure_ascii=False, indent=indent) (Python's default separators: ", " and
// ": " without indent, "," and ": " with it).
void dump_json(const Value& v, int indent, int depth, std::string& out) {
  auto nl = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(size_t(indent * d), ' ');
  };
  switch (v.k) {
    case Value::K::Undefined:
    case Value::K::None: out += "null"; return;
    case Value::K::Bool: out += v.b ? "true" : "false"; return;
    case Value::K::Int: out += std::to_string(v.i); return;
    case Value::K::Float:
      out += std::isfinite(v.f) ? py_float(v.f) : std::isnan(v.f) ? "NaN" : v.f > 0 ? "Infinity" : "-Infinity";
      return;
    case Value::K::Str: {
      out += '"';
      for (unsigned char ch : v.s) {
        switch (ch) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          default:
            if (ch < 0x20) out += fmt::format("\\u{:04x}", ch);
            else out += char(ch);
        }
      }
      out += '"';
      return;
    }
    case Value::K::List: {
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) out += indent < 0 ? ", " : ",";
        nl(depth + 1);
        dump_json((*v.list)[i], indent, depth + 1, out);
      }
      nl(depth);
      out += ']';
      return;
    }
    case Value::K::Dict: {
      if (v.dict->empty()) {
        out += "{}";
        return;
      }
      out += '{';
      size_t i = 0;
      for (const auto& [k, x] : *v.dict) {
        if (i++) out += indent < 0 ? ", " : ",";
        nl(depth + 1);
        dump_json(Value::str(k), indent, depth + 1, out);
        out += ": ";
        dump_json(x, indent, depth + 1, out);
      }
      nl(depth);
      out += '}';
      return;
    }
    case Value::K::Func: fail("chat template: cannot convert a function to JSON");
  }
}

bool equal(const Value& a, const Value& b) {
  if (a.is_num() && b.is_num()) return a.as_double() == b.as_double();
  if ((a.k == Value::K::Bool && b.is_num()) || (b.k == Value::K::Bool && a.is_num()))
    return a.as_double() == b.as_double();
  if (a.k != b.k) return false;
  switch (a.k) {
    case Value::K::Undefined:
    case Value::K::None: return true;
    case Value::K::Bool: return a.b == b.b;
    case Value::K::Str: return a.s == b.s;
    case Value::K::List:
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i)
        if (!equal((*a.list)[i], (*b.list)[i])) return false;
      return true;
    case Value::K::Dict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [k, x] : *a.dict) {
        const Value* y = b.get(k);
        if (!y || !equal(x, *y)) return false;
      }
      return true;
    case Value::K::Func: return a.fn == b.fn;
    default: return false;
  }
}

// ------------------------------------------------------------------------ lexer

struct Tok {
  enum T { Name, Str, Int, Float, Op, End } t = End;
  std::string s;
  int64_t i = 0;
  double f = 0;
  int line = 0;
};

// Splits the inside of a {{ }} or {% %} tag into expression tokens.
std::vector<Tok> lex_expr(const std::string& src, int line) {
  std::vector<Tok> out;
  size_t p = 0;
  const size_t n = src.size();
  while (p < n) {
    const char c = src[p];
    if (c == '\n') ++line;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++p;
      continue;
    }
    Tok t;
    t.line = line;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t q = p;
      while (q < n && (std::isalnum(static_cast<unsigned char>(src[q])) || src[q] == '_')) ++q;
      t.t = Tok::Name;
      t.s = src.substr(p, q - p);
      p = q;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t q = p;
      while (q < n && (std::isdigit(static_cast<unsigned char>(src[q])) || src[q] == '_')) ++q;
      bool is_float = false;
      if (q + 1 < n && src[q] == '.' && std::isdigit(static_cast<unsigned char>(src[q + 1]))) {
        is_float = true;
        ++q;
        while (q < n && std::isdigit(static_cast<unsigned char>(src[q]))) ++q;
      }
      if (q < n && (src[q] == 'e' || src[q] == 'E')) {
        size_t r = q + 1;
        if (r < n && (src[r] == '+' || src[r] == '-')) ++r;
        if (r < n && std::isdigit(static_cast<unsigned char>(src[r]))) {
          is_float = true;
          q = r;
          while (q < n && std::isdigit(static_cast<unsigned char>(src[q]))) ++q;
        }
      }
      std::string num = src.substr(p, q - p);
      num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
      if (is_float) {
        t.t = Tok::Float;
        t.f = std::stod(num);
      } else {
        t.t = Tok::Int;
        t.i = std::stoll(num);
      }
      p = q;
    } else if (c == '\'' || c == '"') {
      size_t q = p + 1;
      std::string s;
      while (q < n && src[q] != c) {
        if (src[q] == '\\' && q + 1 < n) {
          const char e = src[++q];
          switch (e) {
            case 'n': s += '\n'; break;
            case 't': s += '\t'; break;
            case 'r': s += '\r'; break;
            case '\\': s += '\\'; break;
            case '\'': s += '\''; break;
            case '"': s += '"'; break;
            case '0': s += '\0'; break;
            default: s += '\\', s += e;
          }
          ++q;
        } else {
          if (src[q] == '\n') ++line;
          s += src[q++];
        }
      }
      check(q < n, "chat template line {}: unterminated string", t.line);
      t.t = Tok::Str;
      t.s = std::move(s);
      p = q + 1;
    } else {
      static const char* ops[] = {"==", "!=", "<=", ">=", "//", "**", "<", ">", "+", "-", "*", "/",
                                  "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "="};
      bool found = false;
      for (const char* op : ops) {
        const size_t len = std::char_traits<char>::length(op);
        if (src.compare(p, len, op) == 0) {
          t.t = Tok::Op;
          t.s = op;
          p += len;
          found = true;
          break;
        }
      }
      check(found, "chat template line {}: unexpected character '{}'", line, c);
    }
    out.push_back(std::move(t));
  }
  Tok end;
  end.line = line;
  out.push_back(end);
  return out;
}

struct Piece {
  enum T { Text, Output, Stmt } t;
  std::string text;  // Text: the text; Output / Stmt: the tag's inside
  int line;
};

// Template source -> text / {{ }} / {% %} pieces, comments dropped, with Jinja's
// whitespace control (Jinja2 lexer.py tokeniter): "-" strips all whitespace on that side;
// trim_blocks drops the first newline after a block or comment tag; lstrip_blocks strips
// the spaces and tabs between the start of a line and a block or comment tag ("+"
// disables either).
std::vector<Piece> lex_template(const std::string& src) {
  std::vector<Piece> out;
  size_t p = 0;
  int line = 1;
  bool line_starting = true;  // the previous token ended a line (or this is the start)
  auto count_lines = [](std::string_view s) { return int(std::count(s.begin(), s.end(), '\n')); };
  auto is_ws = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; };
  while (true) {
    size_t open = p;
    while (true) {
      open = src.find('{', open);
      if (open == std::string::npos || open + 1 >= src.size()) {
        open = std::string::npos;
        break;
      }
      const char k = src[open + 1];
      if (k == '{' || k == '%' || k == '#') break;
      ++open;
    }
    std::string text = src.substr(p, open == std::string::npos ? std::string::npos : open - p);
    const int text_line = line;
    line += count_lines(text);
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({Piece::Text, text, text_line});
      break;
    }
    const char kind = src[open + 1];
    size_t body = open + 2;
    const bool minus_before = body < src.size() && src[body] == '-';
    const bool plus_before = body < src.size() && src[body] == '+';
    if (minus_before || plus_before) ++body;
    if (minus_before) {
      size_t k = text.size();
      while (k > 0 && is_ws(text[k - 1])) --k;
      text.erase(k);
    } else if (kind != '{' && !plus_before) {
      const size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
      if ((l_pos > 0 || line_starting) && l_pos < text.size() &&
          std::all_of(text.begin() + long(l_pos), text.end(), is_ws))
        text.erase(l_pos);
    }
    if (!text.empty()) out.push_back({Piece::Text, text, text_line});
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    // The closing delimiter, skipping string literals inside the tag (a "}}" in a string
    // does not close it).
    size_t end = body;
    if (kind == '#') {
      end = src.find(close, body);
    } else {
      while (end < src.size() && src.compare(end, 2, close) != 0) {
        if (src[end] == '\'' || src[end] == '"') {
          const char q = src[end++];
          while (end < src.size() && src[end] != q) end += src[end] == '\\' ? 2 : 1;
        }
        ++end;
      }
      if (end >= src.size()) end = std::string::npos;
    }
    check(end != std::string::npos, "chat template line {}: unclosed '{}{}'", line, '{', kind);
    size_t inner_end = end;
    const bool minus_after = end > body && src[end - 1] == '-';
    const bool plus_after = end > body && src[end - 1] == '+';
    if (minus_after || plus_after) --inner_end;
    const std::string inner = src.substr(body, inner_end - body);
    if (kind == '{') out.push_back({Piece::Output, inner, line});
    else if (kind == '%') out.push_back({Piece::Stmt, inner, line});
    line += count_lines(std::string_view(src).substr(open, end + 2 - open));
    p = end + 2;
    // What the tag's end consumes: "-" all following whitespace, trim_blocks one newline.
    line_starting = false;
    if (minus_after) {
      size_t q = p;
      while (q < src.size() && is_ws(src[q])) ++q;
      line_starting = q > p && src[q - 1] == '\n';
      line += count_lines(std::string_view(src).substr(p, q - p));
      p = q;
    } else if (kind != '{' && !plus_after) {
      if (src.compare(p, 1, "\n") == 0) ++p, ++line, line_starting = true;
      else if (src.compare(p, 2, "\r\n") == 0) p += 2, ++line, line_starting = true;
    }
  }
  return out;
}

// ------------------------------------------------------------------------ AST

struct Expr;
using ExprP = std::shared_ptr<Expr>;
struct Expr {
  enum T {
    Lit, Var, Attr, Item, Slice, Call, Filter, Test, Unary, Binary, And, Or, Not, Cond,
    ListLit, DictLit
  } t;
  Value lit;
  std::string name;  // Var name, Attr name, Filter / Test name, operator
  ExprP a, b, c;     // operands
  std::vector<ExprP> args;
  std::vector<std::pair<std::string, ExprP>> kwargs;
  bool negate = false;  // Test: "is not"
  int line = 0;
};

struct Node;
using NodeP = std::shared_ptr<Node>;
struct Node {
  enum T { Text, Output, If, For, Set, Break, Continue } t;
  std::string text;
  ExprP expr;  // Output, Set value, For iterable
  std::vector<std::pair<ExprP, std::vector<NodeP>>> branches;  // If: (cond or null, body)
  std::vector<std::string> targets;  // For targets; Set: name [, attr]
  ExprP filter;                      // For ... if filter
  std::vector<NodeP> body, else_body;
  int line = 0;
};

class ExprParser {
 public:
  ExprParser(std::vector<Tok> toks) : t_(std::move(toks)) {}
  const Tok& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().t == Tok::End; }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).t == Tok::Op && peek(k).s == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).t == Tok::Name && peek(k).s == n; }
  Tok next() { return t_[std::min(p_++, t_.size() - 1)]; }
  void expect_op(const char* op) {
    check(is_op(op), "chat template line {}: expected '{}', found '{}'", peek().line, op, describe(peek()));
    ++p_;
  }
  std::string expect_name() {
    check(peek().t == Tok::Name, "chat template line {}: expected a name, found '{}'", peek().line,
          describe(peek()));
    return next().s;
  }
  static std::string describe(const Tok& t) {
    switch (t.t) {
      case Tok::End: return "end of tag";
      case Tok::Int: return std::to_string(t.i);
      case Tok::Float: return py_float(t.f);
      default: return t.s;
    }
  }
  void expect_end() {
    check(at_end(), "chat template line {}: unexpected '{}'", peek().line, describe(peek()));
  }

  ExprP expression() {  // condexpr
    ExprP e = or_expr();
    while (is_name("if")) {
      ++p_;
      auto c = mk(Expr::Cond);
      c->b = or_expr();  // condition
      c->a = e;          // value when true
      if (is_name("else")) {
        ++p_;
        c->c = expression();
      }
      e = c;
    }
    return e;
  }
  ExprP or_expr() {
    ExprP e = and_expr();
    while (is_name("or")) {
      ++p_;
      auto o = mk(Expr::Or);
      o->a = e;
      o->b = and_expr();
      e = o;
    }
    return e;
  }
  ExprP and_expr() {
    ExprP e = not_expr();
    while (is_name("and")) {
      ++p_;
      auto o = mk(Expr::And);
      o->a = e;
      o->b = not_expr();
      e = o;
    }
    return e;
  }
  ExprP not_expr() {
    if (is_name("not")) {
      ++p_;
      auto o = mk(Expr::Not);
      o->a = not_expr();
      return o;
    }
    return compare();
  }
  ExprP compare() {
    ExprP e = math1();
    while (true) {
      std::string op;
      if (peek().t == Tok::Op && (peek().s == "==" || peek().s == "!=" || peek().s == "<" ||
                                  peek().s == ">" || peek().s == "<=" || peek().s == ">=")) {
        op = next().s;
      } else if (is_name("in")) {
        ++p_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        op = "not in";
      } else {
        break;
      }
      auto o = mk(Expr::Binary);
      o->name = op;
      o->a = e;
      o->b = math1();
      e = o;
    }
    return e;
  }
  ExprP binary_chain(ExprP (ExprParser::*sub)(), std::initializer_list<const char*> ops) {
    ExprP e = (this->*sub)();
    while (true) {
      bool hit = false;
      for (const char* op : ops)
        if (is_op(op)) {
          ++p_;
          auto o = mk(Expr::Binary);
          o->name = op;
          o->a = e;
          o->b = (this->*sub)();
          e = o;
          hit = true;
          break;
        }
      if (!hit) return e;
    }
  }
  ExprP math1() { return binary_chain(&ExprParser::concat, {"+", "-"}); }
  ExprP concat() { return binary_chain(&ExprParser::math2, {"~"}); }
  ExprP math2() { return binary_chain(&ExprParser::pow_expr, {"*", "/", "//", "%"}); }
  ExprP pow_expr() { return binary_chain(&ExprParser::unary_f, {"**"}); }
  ExprP unary_f() { return unary(true); }
  ExprP unary(bool with_filter) {
    ExprP e;
    if (is_op("-") || is_op("+")) {
      const std::string op = next().s;
      auto u = mk(Expr::Unary);
      u->name = op;
      u->a = unary(false);
      e = u;
    } else {
      e = primary();
    }
    e = postfix(e);
    if (with_filter) e = filters(e);
    return e;
  }
  ExprP primary() {
    const Tok t = next();
    auto lit = [&](Value v) {
      auto e = mk(Expr::Lit);
      e->lit = std::move(v);
      return e;
    };
    if (t.t == Tok::Name) {
      if (t.s == "true" || t.s == "True") return lit(Value::boolean(true));
      if (t.s == "false" || t.s == "False") return lit(Value::boolean(false));
      if (t.s == "none" || t.s == "None") return lit(Value::none());
      auto v = mk(Expr::Var);
      v->name = t.s;
      return v;
    }
    if (t.t == Tok::Str) {
      std::string s = t.s;
      while (peek().t == Tok::Str) s += next().s;  // adjacent literals concatenate
      return lit(Value::str(s));
    }
    if (t.t == Tok::Int) return lit(Value::integer(t.i));
    if (t.t == Tok::Float) return lit(Value::number(t.f));
    if (t.t == Tok::Op && t.s == "(") {
      ExprP e = expression();
      if (is_op(",")) {  // a tuple: a list for our purposes
        auto l = mk(Expr::ListLit);
        l->args.push_back(e);
        while (is_op(",")) {
          ++p_;
          if (is_op(")")) break;
          l->args.push_back(expression());
        }
        e = l;
      }
      expect_op(")");
      return e;
    }
    if (t.t == Tok::Op && t.s == "[") {
      auto l = mk(Expr::ListLit);
      while (!is_op("]")) {
        l->args.push_back(expression());
        if (!is_op(",")) break;
        ++p_;
      }
      expect_op("]");
      return l;
    }
    if (t.t == Tok::Op && t.s == "{") {
      auto d = mk(Expr::DictLit);
      while (!is_op("}")) {
        ExprP k = expression();
        expect_op(":");
        d->args.push_back(k);
        d->args.push_back(expression());
        if (!is_op(",")) break;
        ++p_;
      }
      expect_op("}");
      return d;
    }
    fail("chat template line {}: unexpected '{}'", t.line, describe(t));
  }
  void call_args(const ExprP& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().t == Tok::Name && is_op("=", 1)) {
        std::string k = next().s;
        ++p_;
        e->kwargs.emplace_back(k, expression());
      } else {
        e->args.push_back(expression());
      }
      if (!is_op(",")) break;
      ++p_;
    }
    expect_op(")");
  }
  ExprP postfix(ExprP e) {
    while (true) {
      if (is_op(".")) {
        ++p_;
        auto a = mk(Expr::Attr);
        a->a = e;
        a->name = peek().t == Tok::Int ? std::to_string(next().i) : expect_name();
        e = a;
      } else if (is_op("[")) {
        ++p_;
        ExprP lo, hi, st;
        bool slice = false;
        if (!is_op(":")) lo = expression();
        if (is_op(":")) {
          slice = true;
          ++p_;
          if (!is_op("]") && !is_op(":")) hi = expression();
          if (is_op(":")) {
            ++p_;
            if (!is_op("]")) st = expression();
          }
        }
        expect_op("]");
        auto s = mk(slice ? Expr::Slice : Expr::Item);
        s->a = e;
        s->b = lo;
        if (slice) {
          s->args = {lo, hi, st};
        }
        e = s;
      } else if (is_op("(")) {
        auto c = mk(Expr::Call);
        c->a = e;
        call_args(c);
        e = c;
      } else {
        return e;
      }
    }
  }
  ExprP filters(ExprP e) {
    while (true) {
      if (is_op("|")) {
        ++p_;
        auto f = mk(Expr::Filter);
        f->a = e;
        f->name = expect_name();
        while (is_op(".")) {  // dotted filter names are not used; keep simple
          ++p_;
          f->name += "." + expect_name();
        }
        if (is_op("(")) call_args(f);
        e = f;
      } else if (is_name("is")) {
        ++p_;
        auto t = mk(Expr::Test);
        t->a = e;
        if (is_name("not")) {
          ++p_;
          t->negate = true;
        }
        t->name = peek().t == Tok::Name ? next().s : describe(next());
        if (is_op("(")) {
          call_args(t);
        } else if (peek().t == Tok::Str || peek().t == Tok::Int || peek().t == Tok::Float ||
                   (peek().t == Tok::Name && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("is") && !is_name("not") && !is_name("in"))) {
          t->args.push_back(unary(false));  // "is equalto 'x'", "is divisibleby 3"
        }
        e = t;
      } else if (is_op("(")) {
        auto c = mk(Expr::Call);
        c->a = e;
        call_args(c);
        e = c;
      } else {
        return e;
      }
    }
  }

 private:
  ExprP mk(Expr::T t) {
    auto e = std::make_shared<Expr>();
    e->t = t;
    e->line = peek().line;
    return e;
  }
  std::vector<Tok> t_;
  size_t p_ = 0;
};

// Statement-level parser over the pieces.
class Parser {
 public:
  explicit Parser(std::vector<Piece> pieces) : pc_(std::move(pieces)) {}

  std::vector<NodeP> parse_all() {
    std::string stop;
    auto body = parse_body({}, &stop);
    check(stop.empty(), "chat template: unexpected '{{% {} %}}'", stop);
    return body;
  }

 private:
  static std::string keyword(const Piece& p) {
    size_t b = p.text.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = b;
    while (e < p.text.size() && (std::isalnum(static_cast<unsigned char>(p.text[e])) || p.text[e] == '_')) ++e;
    return p.text.substr(b, e - b);
  }

  // Parses nodes until a statement whose keyword is in `stops` (consumed; its keyword in
  // *stop and its piece in last_).
  std::vector<NodeP> parse_body(std::initializer_list<const char*> stops, std::string* stop) {
    std::vector<NodeP> out;
    stop->clear();
    while (i_ < pc_.size()) {
      const Piece& p = pc_[i_++];
      if (p.t == Piece::Text) {
        auto n = std::make_shared<Node>();
        n->t = Node::Text;
        n->text = p.text;
        out.push_back(n);
        continue;
      }
      if (p.t == Piece::Output) {
        ExprParser ep(lex_expr(p.text, p.line));
        auto n = std::make_shared<Node>();
        n->t = Node::Output;
        n->expr = ep.expression();
        ep.expect_end();
        n->line = p.line;
        out.push_back(n);
        continue;
      }
      const std::string kw = keyword(p);
      for (const char* s : stops)
        if (kw == s) {
          *stop = kw;
          last_ = p;
          return out;
        }
      ExprParser ep(lex_expr(p.text, p.line));
      ep.next();  // the keyword
      if (kw == "if") {
        auto n = std::make_shared<Node>();
        n->t = Node::If;
        n->line = p.line;
        ExprP cond = ep.expression();
        ep.expect_end();
        while (true) {
          std::string s;
          auto body = parse_body({"elif", "else", "endif"}, &s);
          check(!s.empty(), "chat template line {}: '{{% if %}}' without '{{% endif %}}'", p.line);
          n->branches.emplace_back(cond, std::move(body));
          if (s == "endif") break;
          ExprParser e2(lex_expr(last_.text, last_.line));
          e2.next();
          if (s == "elif") {
            cond = e2.expression();
            e2.expect_end();
          } else {
            e2.expect_end();
            std::string s2;
            auto els = parse_body({"endif"}, &s2);
            check(s2 == "endif", "chat template line {}: '{{% else %}}' without '{{% endif %}}'", last_.line);
            n->branches.emplace_back(nullptr, std::move(els));
            break;
          }
        }
        out.push_back(n);
      } else if (kw == "for") {
        auto n = std::make_shared<Node>();
        n->t = Node::For;
        n->line = p.line;
        n->targets.push_back(ep.expect_name());
        while (ep.is_op(",")) {
          ep.next();
          n->targets.push_back(ep.expect_name());
        }
        check(ep.is_name("in"), "chat template line {}: expected 'in' in for loop", p.line);
        ep.next();
        n->expr = ep.or_expr();  // no condexpr: a trailing "if" is the loop filter
        if (ep.is_name("if")) {
          ep.next();
          n->filter = ep.expression();
        }
        if (ep.is_name("recursive")) fail("chat template line {}: recursive loops are not supported", p.line);
        ep.expect_end();
        std::string s;
        n->body = parse_body({"else", "endfor"}, &s);
        check(!s.empty(), "chat template line {}: '{{% for %}}' without '{{% endfor %}}'", p.line);
        if (s == "else") {
          n->else_body = parse_body({"endfor"}, &s);
          check(s == "endfor", "chat template line {}: '{{% for %}}' without '{{% endfor %}}'", p.line);
        }
        out.push_back(n);
      } else if (kw == "set") {
        auto n = std::make_shared<Node>();
        n->t = Node::Set;
        n->line = p.line;
        n->targets.push_back(ep.expect_name());
        if (ep.is_op(".")) {
          ep.next();
          n->targets.push_back(ep.expect_name());
        }
        check(ep.is_op("="), "chat template line {}: block '{{% set %}}' is not supported (expected '=')", p.line);
        ep.next();
        n->expr = ep.expression();
        ep.expect_end();
        out.push_back(n);
      } else if (kw == "break" || kw == "continue") {
        auto n = std::make_shared<Node>();
        n->t = kw == "break" ? Node::Break : Node::Continue;
        n->line = p.line;
        ep.expect_end();
        out.push_back(n);
      } else {
        fail("chat template line {}: unsupported statement '{{% {} %}}'", p.line, kw);
      }
    }
    return out;
  }

  std::vector<Piece> pc_;
  size_t i_ = 0;
  Piece last_{Piece::Text, "", 0};
};

// ------------------------------------------------------------------------ evaluation

struct LoopSignal {
  bool brk = false, cont = false;
};

class Renderer {
 public:
  Renderer(std::optional<std::time_t> now) : now_(now) {}

  void push() { scopes_.emplace_back(); }
  void pop() { scopes_.pop_back(); }
  void define(const std::string& k, Value v) { scopes_.back()[k] = std::move(v); }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return global(name);
  }

  void render(const std::vector<NodeP>& nodes, std::string& out, LoopSignal& sig) {
    for (const NodeP& n : nodes) {
      if (sig.brk || sig.cont) return;
      switch (n->t) {
        case Node::Text: out += n->text; break;
        case Node::Output: out += to_str(eval(*n->expr)); break;
        case Node::If:
          for (const auto& [cond, body] : n->branches)
            if (!cond || truthy(eval(*cond))) {
              render(body, out, sig);
              break;
            }
          break;
        case Node::Set:
          if (n->targets.size() == 1) {
            scopes_.back()[n->targets[0]] = eval(*n->expr);
          } else {
            Value obj = lookup(n->targets[0]);
            check(obj.k == Value::K::Dict && obj.ns, "chat template line {}: cannot set an attribute "
                  "of '{}', which is not a namespace", n->line, n->targets[0]);
            obj.set(n->targets[1], eval(*n->expr));
          }
          break;
        case Node::For: render_for(*n, out, sig); break;
        case Node::Break: sig.brk = true; return;
        case Node::Continue: sig.cont = true; return;
      }
    }
  }

  Value eval(const Expr& e);

 private:
  void render_for(const Node& n, std::string& out, LoopSignal& outer) {
    Value it = eval(*n.expr);
    List items = iterate(it, n.line);
    // The loop filter runs first: loop.* counts the kept items (Jinja semantics).
    if (n.filter) {
      List kept;
      for (const Value& v : items) {
        push();
        bind_targets(n, v);
        const bool keep = truthy(eval(*n.filter));
        pop();
        if (keep) kept.push_back(v);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      render(n.else_body, out, outer);
      return;
    }
    const int64_t len = int64_t(items.size());
    for (int64_t i = 0; i < len; ++i) {
      push();
      bind_targets(n, items[size_t(i)]);
      Dict loop = {{"index", Value::integer(i + 1)},
                   {"index0", Value::integer(i)},
                   {"revindex", Value::integer(len - i)},
                   {"revindex0", Value::integer(len - i - 1)},
                   {"first", Value::boolean(i == 0)},
                   {"last", Value::boolean(i + 1 == len)},
                   {"length", Value::integer(len)},
                   {"previtem", i > 0 ? items[size_t(i - 1)] : Value::undef("previtem")},
                   {"nextitem", i + 1 < len ? items[size_t(i + 1)] : Value::undef("nextitem")}};
      define("loop", Value::of_dict(std::move(loop)));
      LoopSignal sig;
      render(n.body, out, sig);
      pop();
      if (sig.brk) break;
    }
  }

  void bind_targets(const Node& n, const Value& v) {
    if (n.targets.size() == 1) {
      define(n.targets[0], v);
      return;
    }
    check(v.k == Value::K::List && v.list->size() == n.targets.size(),
          "chat template line {}: cannot unpack {} into {} names", n.line, py_repr(v), n.targets.size());
    for (size_t k = 0; k < n.targets.size(); ++k) define(n.targets[k], (*v.list)[k]);
  }

  static List iterate(const Value& v, int line) {
    switch (v.k) {
      case Value::K::List: return *v.list;
      case Value::K::Dict: {
        List keys;
        for (const auto& [k, x] : *v.dict) keys.push_back(Value::str(k));
        return keys;
      }
      case Value::K::Str: {
        List chars;
        for (size_t i = 0; i < v.s.size();) {
          size_t len = 1;
          const unsigned char c = static_cast<unsigned char>(v.s[i]);
          if (c >= 0xF0) len = 4;
          else if (c >= 0xE0) len = 3;
          else if (c >= 0xC0) len = 2;
          chars.push_back(Value::str(v.s.substr(i, len)));
          i += len;
        }
        return chars;
      }
      case Value::K::Undefined: return {};
      default: fail("chat template line {}: {} is not iterable", line, py_repr(v));
    }
  }

  Value global(const std::string& name) const;
  Value call(const Value& f, Args& args, int line);
  Value attribute(const Value& obj, const std::string& name, int line);
  Value method(const Value& obj, const std::string& name, int line);
  Value filter(const std::string& name, const Value& v, Args& args, int line);
  bool test(const std::string& name, const Value& v, Args& args, int line);
  Value binary(const std::string& op, const Value& a, const Value& b, int line);

  std::vector<std::map<std::string, Value>> scopes_;
  std::optional<std::time_t> now_;
};

Value Renderer::global(const std::string& name) const {
  if (name == "namespace") {
    return Value::func([](Args& a) {
      Dict d;
      for (const auto& v : a.pos)
        if (v.k == Value::K::Dict)
          for (const auto& kv : *v.dict) d.push_back(kv);
      for (auto& kv : a.kw) d.push_back(kv);
      Value v = Value::of_dict(std::move(d));
      v.ns = true;
      return v;
    });
  }
  if (name == "raise_exception") {
    return Value::func([](Args& a) -> Value {
      fail("chat template: {}", a.pos.empty() ? std::string("raise_exception") : to_str(a.pos[0]));
    });
  }
  if (name == "strftime_now") {
    const auto now = now_;
    return Value::func([now](Args& a) {
      check(!a.pos.empty() && a.pos[0].is_str(), "chat template: strftime_now(format) needs a format");
      std::time_t t = now ? *now : std::time(nullptr);
      std::tm tm{};
      localtime_r(&t, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, a.pos[0].s.c_str(), &tm);
      return Value::str(std::string(buf, n));
    });
  }
  if (name == "range") {
    return Value::func([](Args& a) {
      int64_t lo = 0, hi = 0, st = 1;
      check(!a.pos.empty() && a.pos.size() <= 3, "chat template: range() takes 1 to 3 arguments");
      for (const auto& v : a.pos) check(v.k == Value::K::Int, "chat template: range() needs integers");
      if (a.pos.size() == 1) hi = a.pos[0].i;
      else lo = a.pos[0].i, hi = a.pos[1].i;
      if (a.pos.size() == 3) st = a.pos[2].i;
      check(st != 0, "chat template: range() step is zero");
      List l;
      for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) l.push_back(Value::integer(i));
      return Value::of_list(std::move(l));
    });
  }
  return Value::undef(name);
}

Value Renderer::call(const Value& f, Args& args, int line) {
  check(f.k == Value::K::Func, "chat template line {}: {} is not callable", line,
        f.is_undefined() ? "'" + f.undefined_name + "' (undefined)" : py_repr(f));
  return (*f.fn)(args);
}

int64_t norm_index(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

Value Renderer::attribute(const Value& obj, const std::string& name, int line) {
  if (obj.k == Value::K::Dict) {
    if (const Value* v = obj.get(name)) return *v;
    if (name == "items" || name == "keys" || name == "values" || name == "get") return method(obj, name, line);
    return Value::undef(name);
  }
  if (obj.k == Value::K::Str || obj.k == Value::K::List) return method(obj, name, line);
  check(!obj.is_undefined(), "chat template line {}: '{}' is undefined (reading .{})", line,
        obj.undefined_name, name);
  return Value::undef(name);
}

// Python str / dict methods the templates call.
Value Renderer::method(const Value& obj, const std::string& name, int line) {
  auto strip_set = [](const Args& a) -> std::string {
    return a.pos.empty() || a.pos[0].is_none() ? std::string(" \t\n\r\f\v") : a.pos[0].s;
  };
  if (obj.k == Value::K::Dict) {
    Value self = obj;
    if (name == "items")
      return Value::func([self](Args&) {
        List l;
        for (const auto& [k, v] : *self.dict) l.push_back(Value::of_list({Value::str(k), v}));
        return Value::of_list(std::move(l));
      });
    if (name == "keys")
      return Value::func([self](Args&) {
        List l;
        for (const auto& [k, v] : *self.dict) l.push_back(Value::str(k));
        return Value::of_list(std::move(l));
      });
    if (name == "values")
      return Value::func([self](Args&) {
        List l;
        for (const auto& [k, v] : *self.dict) l.push_back(v);
        return Value::of_list(std::move(l));
      });
    if (name == "get")
      return Value::func([self](Args& a) {
        check(!a.pos.empty(), "chat template: get() needs a key");
        const Value* v = self.get(to_str(a.pos[0]));
        return v ? *v : a.pos.size() > 1 ? a.pos[1] : Value::none();
      });
  }
  if (obj.k == Value::K::Str) {
    const std::string s = obj.s;
    if (name == "startswith" || name == "endswith") {
      const bool start = name == "startswith";
      return Value::func([s, start](Args& a) {
        check(!a.pos.empty(), "chat template: startswith/endswith needs an argument");
        List pre = a.pos[0].k == Value::K::List ? *a.pos[0].list : List{a.pos[0]};
        for (const Value& p : pre)
          if (start ? s.starts_with(p.s) : s.ends_with(p.s)) return Value::boolean(true);
        return Value::boolean(false);
      });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const bool l = name != "rstrip", r = name != "lstrip";
      return Value::func([s, l, r, strip_set](Args& a) {
        const std::string set = strip_set(a);
        size_t b = 0, e = s.size();
        if (l) while (b < e && set.find(s[b]) != std::string::npos) ++b;
        if (r) while (e > b && set.find(s[e - 1]) != std::string::npos) --e;
        return Value::str(s.substr(b, e - b));
      });
    }
    if (name == "split" || name == "rsplit") {
      const bool rs = name == "rsplit";
      return Value::func([s, rs](Args& a) {
        List parts;
        const Value* sepv = a.arg(0, "sep");
        const Value* maxv = a.arg(1, "maxsplit");
        int64_t maxsplit = maxv && maxv->k == Value::K::Int ? maxv->i : -1;
        if (!sepv || sepv->is_none()) {  // whitespace split
          std::istringstream in(s);
          std::string w;
          while (in >> w) parts.push_back(Value::str(w));
          return Value::of_list(std::move(parts));
        }
        const std::string sep = sepv->s;
        check(!sep.empty(), "chat template: split() with an empty separator");
        std::vector<std::string> out;
        if (!rs) {
          size_t p = 0;
          while (maxsplit != 0) {
            size_t q = s.find(sep, p);
            if (q == std::string::npos) break;
            out.push_back(s.substr(p, q - p));
            p = q + sep.size();
            --maxsplit;
          }
          out.push_back(s.substr(p));
        } else {
          size_t e = s.size();
          std::vector<std::string> rev;
          while (maxsplit != 0 && e >= sep.size()) {
            size_t q = s.rfind(sep, e - sep.size());
            if (q == std::string::npos) break;
            rev.push_back(s.substr(q + sep.size(), e - q - sep.size()));
            e = q;
            --maxsplit;
          }
          rev.push_back(s.substr(0, e));
          out.assign(rev.rbegin(), rev.rend());
        }
        for (auto& x : out) parts.push_back(Value::str(x));
        return Value::of_list(std::move(parts));
      });
    }
    if (name == "upper" || name == "lower")
      return Value::func([s, name](Args&) {
        std::string r = s;
        for (char& ch : r) ch = char(name == "upper" ? std::toupper(static_cast<unsigned char>(ch))
                                                     : std::tolower(static_cast<unsigned char>(ch)));
        return Value::str(r);
      });
    if (name == "title" || name == "capitalize")
      return Value::func([s, name](Args&) {
        std::string r = s;
        bool start = true;
        for (size_t i = 0; i < r.size(); ++i) {
          unsigned char ch = static_cast<unsigned char>(r[i]);
          if (name == "capitalize") r[i] = char(i == 0 ? std::toupper(ch) : std::tolower(ch));
          else {
            r[i] = char(start ? std::toupper(ch) : std::tolower(ch));
            start = !std::isalpha(ch);
          }
        }
        return Value::str(r);
      });
    if (name == "replace")
      return Value::func([s](Args& a) {
        check(a.pos.size() >= 2, "chat template: replace(old, new) needs two arguments");
        std::string r = s;
        const std::string from = a.pos[0].s, to = a.pos[1].s;
        int64_t count = a.pos.size() > 2 ? a.pos[2].i : -1;
        if (from.empty()) return Value::str(r);
        for (size_t p = r.find(from); p != std::string::npos && count != 0; p = r.find(from, p + to.size()), --count)
          r.replace(p, from.size(), to);
        return Value::str(r);
      });
    if (name == "find")
      return Value::func([s](Args& a) {
        check(!a.pos.empty(), "chat template: find() needs an argument");
        size_t p = s.find(a.pos[0].s);
        return Value::integer(p == std::string::npos ? -1 : int64_t(p));
      });
    if (name == "count")
      return Value::func([s](Args& a) {
        check(!a.pos.empty() && !a.pos[0].s.empty(), "chat template: count() needs a non-empty argument");
        int64_t n = 0;
        for (size_t p = s.find(a.pos[0].s); p != std::string::npos; p = s.find(a.pos[0].s, p + a.pos[0].s.size())) ++n;
        return Value::integer(n);
      });
    if (name == "format")
      return Value::func([s](Args& a) {
        std::string r;
        size_t next = 0;
        for (size_t i = 0; i < s.size(); ++i) {
          if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '}') {
            check(next < a.pos.size(), "chat template: format() has too few arguments");
            r += to_str(a.pos[next++]);
            ++i;
          } else {
            r += s[i];
          }
        }
        return Value::str(r);
      });
  }
  if (obj.k == Value::K::List && name == "append") {
    Value self = obj;
    return Value::func([self](Args& a) {
      for (auto& v : a.pos) self.list->push_back(v);
      return Value::none();
    });
  }
  (void)line;
  return Value::undef(name);  // Jinja: a missing attribute is undefined, not an error
}

bool Renderer::test(const std::string& name, const Value& v, Args& args, int line) {
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_str();
  if (name == "number") return v.is_num();
  if (name == "integer") return v.k == Value::K::Int;
  if (name == "float") return v.k == Value::K::Float;
  if (name == "boolean") return v.k == Value::K::Bool;
  if (name == "true") return v.k == Value::K::Bool && v.b;
  if (name == "false") return v.k == Value::K::Bool && !v.b;
  if (name == "mapping") return v.k == Value::K::Dict;
  if (name == "iterable") return v.k == Value::K::List || v.k == Value::K::Dict || v.is_str();
  if (name == "sequence") return v.k == Value::K::List || v.is_str() || v.k == Value::K::Dict;
  if (name == "callable") return v.k == Value::K::Func;
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") {
    check(!args.pos.empty(), "chat template line {}: test '{}' needs an argument", line, name);
    return equal(v, args.pos[0]);
  }
  if (name == "ne" || name == "!=") return !equal(v, args.pos.at(0));
  if (name == "odd" || name == "even") {
    check(v.k == Value::K::Int, "chat template line {}: '{}' test needs an integer", line, name);
    return (v.i % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") return v.k == Value::K::Int && args.pos.at(0).i != 0 && v.i % args.pos.at(0).i == 0;
  if (name == "in") return truthy(binary("in", v, args.pos.at(0), line));
  if (name == "lower") return v.is_str() && std::none_of(v.s.begin(), v.s.end(), [](unsigned char c) { return std::isupper(c); });
  if (name == "upper") return v.is_str() && std::none_of(v.s.begin(), v.s.end(), [](unsigned char c) { return std::islower(c); });
  fail("chat template line {}: unknown test '{}'", line, name);
}

List as_list(const Value& v, int line) {
  switch (v.k) {
    case Value::K::List: return *v.list;
    case Value::K::Undefined: return {};
    case Value::K::Dict: {
      List l;
      for (const auto& [k, x] : *v.dict) l.push_back(Value::str(k));
      return l;
    }
    case Value::K::Str: {
      List l;
      for (char ch : v.s) l.push_back(Value::str(std::string(1, ch)));
      return l;
    }
    default: fail("chat template line {}: {} is not a sequence", line, py_repr(v));
  }
}

Value Renderer::filter(const std::string& name, const Value& v, Args& a, int line) {
  if (name == "length" || name == "count") {
    switch (v.k) {
      case Value::K::Str: {  // characters, not bytes
        int64_t n = 0;
        for (unsigned char ch : v.s) n += (ch & 0xC0) != 0x80;
        return Value::integer(n);
      }
      case Value::K::List: return Value::integer(int64_t(v.list->size()));
      case Value::K::Dict: return Value::integer(int64_t(v.dict->size()));
      case Value::K::Undefined: return Value::integer(0);
      default: fail("chat template line {}: {} has no length", line, py_repr(v));
    }
  }
  if (name == "trim") {
    const std::string s = to_str(v);
    const char* ws = " \t\n\r\f\v";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return Value::str("");
    return Value::str(s.substr(b, s.find_last_not_of(ws) - b + 1));
  }
  if (name == "tojson") {
    const Value* ind = a.arg(0, "indent");
    std::string out;
    dump_json(v, ind && ind->k == Value::K::Int ? int(ind->i) : -1, 0, out);
    return Value::str(out);
  }
  if (name == "items") {
    check(v.k == Value::K::Dict || v.is_undefined(), "chat template line {}: items of a non-mapping", line);
    List l;
    if (v.k == Value::K::Dict)
      for (const auto& [k, x] : *v.dict) l.push_back(Value::of_list({Value::str(k), x}));
    return Value::of_list(std::move(l));
  }
  if (name == "list") return Value::of_list(as_list(v, line));
  if (name == "join") {
    const Value* sep = a.arg(0, "d");
    const Value* attr = a.named("attribute");
    std::string out;
    List l = as_list(v, line);
    for (size_t i = 0; i < l.size(); ++i) {
      if (i && sep) out += to_str(*sep);
      out += to_str(attr ? attribute(l[i], to_str(*attr), line) : l[i]);
    }
    return Value::str(out);
  }
  if (name == "string") return Value::str(to_str(v));
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    Args none;
    return call(method(Value::str(to_str(v)), name, line), none, line);
  }
  if (name == "replace") return call(method(Value::str(to_str(v)), "replace", line), a, line);
  if (name == "first" || name == "last") {
    List l = as_list(v, line);
    if (l.empty()) return Value::undef(name);
    return name == "first" ? l.front() : l.back();
  }
  if (name == "default" || name == "d") {
    const bool boolean = a.arg(1, "boolean") && truthy(*a.arg(1, "boolean"));
    if (v.is_undefined() || (boolean && !truthy(v))) return a.pos.empty() ? Value::str("") : a.pos[0];
    return v;
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    const bool by_attr = name.ends_with("attr");
    const bool keep_match = name.starts_with("select");
    List out;
    size_t k = 0;
    std::string attr;
    if (by_attr) {
      check(!a.pos.empty(), "chat template line {}: {} needs an attribute name", line, name);
      attr = to_str(a.pos[k++]);
    }
    std::string tname = k < a.pos.size() ? to_str(a.pos[k++]) : "";
    Args targs;
    for (; k < a.pos.size(); ++k) targs.pos.push_back(a.pos[k]);
    for (const Value& item : as_list(v, line)) {
      Value x = by_attr ? attribute(item, attr, line) : item;
      const bool ok = tname.empty() ? truthy(x) : test(tname, x, targs, line);
      if (ok == keep_match) out.push_back(item);
    }
    return Value::of_list(std::move(out));
  }
  if (name == "map") {
    List out;
    const Value* attr = a.named("attribute");
    for (const Value& item : as_list(v, line)) {
      if (attr) {
        out.push_back(attribute(item, to_str(*attr), line));
      } else {
        check(!a.pos.empty(), "chat template line {}: map() needs a filter or attribute=", line);
        Args rest;
        rest.pos.assign(a.pos.begin() + 1, a.pos.end());
        out.push_back(filter(to_str(a.pos[0]), item, rest, line));
      }
    }
    return Value::of_list(std::move(out));
  }
  if (name == "unique") {
    List out;
    for (const Value& item : as_list(v, line))
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equal(o, item); })) out.push_back(item);
    return Value::of_list(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_str()) return Value::str(std::string(v.s.rbegin(), v.s.rend()));
    List l = as_list(v, line);
    std::reverse(l.begin(), l.end());
    return Value::of_list(std::move(l));
  }
  if (name == "sort") {
    List l = as_list(v, line);
    const Value* attr = a.named("attribute");
    const bool rev = a.named("reverse") && truthy(*a.named("reverse"));
    auto key = [&](const Value& x) { return attr ? attribute(x, to_str(*attr), line) : x; };
    std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
      return truthy(binary(rev ? ">" : "<", key(x), key(y), line));
    });
    return Value::of_list(std::move(l));
  }
  if (name == "int") {
    if (v.k == Value::K::Int) return v;
    if (v.k == Value::K::Float) return Value::integer(int64_t(v.f));
    try {
      return Value::integer(std::stoll(to_str(v)));
    } catch (const std::exception&) {
      return Value::integer(0);
    }
  }
  if (name == "float") {
    if (v.is_num()) return Value::number(v.as_double());
    try {
      return Value::number(std::stod(to_str(v)));
    } catch (const std::exception&) {
      return Value::number(0);
    }
  }
  if (name == "abs") return v.k == Value::K::Int ? Value::integer(std::llabs(v.i)) : Value::number(std::fabs(v.as_double()));
  if (name == "round") {
    const int64_t prec = a.pos.empty() ? 0 : a.pos[0].i;
    const double m = std::pow(10.0, double(prec));
    return Value::number(std::round(v.as_double() * m) / m);
  }
  if (name == "indent") {
    const int64_t w = a.pos.empty() ? 4 : a.pos[0].i;
    const bool first = a.arg(1, "first") && truthy(*a.arg(1, "first"));
    const std::string pad(size_t(std::max<int64_t>(0, w)), ' ');
    std::string s = to_str(v), out = first ? pad : "";
    for (size_t i = 0; i < s.size(); ++i) {
      out += s[i];
      if (s[i] == '\n' && i + 1 < s.size() && s[i + 1] != '\n') out += pad;
    }
    return Value::str(out);
  }
  if (name == "wordcount") {
    std::istringstream in(to_str(v));
    std::string w;
    int64_t n = 0;
    while (in >> w) ++n;
    return Value::integer(n);
  }
  fail("chat template line {}: unknown filter '{}'", line, name);
}

Value Renderer::binary(const std::string& op, const Value& a, const Value& b, int line) {
  if (op == "==") return Value::boolean(equal(a, b));
  if (op == "!=") return Value::boolean(!equal(a, b));
  if (op == "in" || op == "not in") {
    bool r = false;
    if (b.is_str()) {
      check(a.is_str(), "chat template line {}: 'in <string>' needs a string on the left", line);
      r = b.s.find(a.s) != std::string::npos;
    } else if (b.k == Value::K::List) {
      r = std::any_of(b.list->begin(), b.list->end(), [&](const Value& x) { return equal(a, x); });
    } else if (b.k == Value::K::Dict) {
      r = a.is_str() && b.get(a.s) != nullptr;
    } else if (!b.is_undefined()) {
      fail("chat template line {}: 'in' needs a string, list or mapping on the right", line);
    }
    return Value::boolean(op == "in" ? r : !r);
  }
  if (op == "~") return Value::str(to_str(a) + to_str(b));
  if (op == "<" || op == ">" || op == "<=" || op == ">=") {
    int cmp;
    if (a.is_num() && b.is_num()) cmp = a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double() ? 1 : 0;
    else if (a.is_str() && b.is_str()) cmp = a.s.compare(b.s) < 0 ? -1 : a.s == b.s ? 0 : 1;
    else fail("chat template line {}: cannot compare {} and {}", line, py_repr(a), py_repr(b));
    const bool r = op == "<" ? cmp < 0 : op == ">" ? cmp > 0 : op == "<=" ? cmp <= 0 : cmp >= 0;
    return Value::boolean(r);
  }
  if (op == "+") {
    if (a.is_str() && b.is_str()) return Value::str(a.s + b.s);
    if (a.k == Value::K::List && b.k == Value::K::List) {
      List l = *a.list;
      l.insert(l.end(), b.list->begin(), b.list->end());
      return Value::of_list(std::move(l));
    }
  }
  if (op == "*" && a.is_str() && b.k == Value::K::Int) {
    std::string r;
    for (int64_t i = 0; i < b.i; ++i) r += a.s;
    return Value::str(r);
  }
  const bool num = (a.is_num() || a.k == Value::K::Bool) && (b.is_num() || b.k == Value::K::Bool);
  check(num, "chat template line {}: unsupported operands for '{}': {} and {}", line, op,
        a.is_undefined() ? "undefined '" + a.undefined_name + "'" : py_repr(a),
        b.is_undefined() ? "undefined '" + b.undefined_name + "'" : py_repr(b));
  const bool ints = a.k != Value::K::Float && b.k != Value::K::Float;
  const int64_t x = a.k == Value::K::Bool ? a.b : a.i, y = b.k == Value::K::Bool ? b.b : b.i;
  const double fx = a.as_double(), fy = b.as_double();
  if (op == "+") return ints ? Value::integer(x + y) : Value::number(fx + fy);
  if (op == "-") return ints ? Value::integer(x - y) : Value::number(fx - fy);
  if (op == "*") return ints ? Value::integer(x * y) : Value::number(fx * fy);
  if (op == "/") {
    check(fy != 0, "chat template line {}: division by zero", line);
    return Value::number(fx / fy);
  }
  if (op == "//" || op == "%") {
    check(fy != 0, "chat template line {}: division by zero", line);
    if (ints) {  // Python floor division / modulo
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) --q, r += y;
      return Value::integer(op == "//" ? q : r);
    }
    const double q = std::floor(fx / fy);
    return Value::number(op == "//" ? q : fx - q * fy);
  }
  if (op == "**") return ints && y >= 0 ? Value::integer(int64_t(std::llround(std::pow(double(x), double(y)))))
                                        : Value::number(std::pow(fx, fy));
  fail("chat template line {}: unknown operator '{}'", line, op);
}

Value Renderer::eval(const Expr& e) {
  switch (e.t) {
    case Expr::Lit: return e.lit;
    case Expr::Var: return lookup(e.name);
    case Expr::Attr: return attribute(eval(*e.a), e.name, e.line);
    case Expr::Item: {
      Value obj = eval(*e.a), key = eval(*e.b);
      if (obj.k == Value::K::Dict) {
        const Value* v = obj.get(to_str(key));
        return v ? *v : Value::undef(to_str(key));
      }
      if (obj.k == Value::K::List || obj.is_str()) {
        if (key.is_str()) return attribute(obj, key.s, e.line);
        check(key.k == Value::K::Int, "chat template line {}: index must be an integer", e.line);
        if (obj.is_str()) {
          const int64_t n = int64_t(obj.s.size()), i = norm_index(key.i, n);
          return i >= 0 && i < n ? Value::str(std::string(1, obj.s[size_t(i)])) : Value::undef("index");
        }
        const int64_t n = int64_t(obj.list->size()), i = norm_index(key.i, n);
        return i >= 0 && i < n ? (*obj.list)[size_t(i)] : Value::undef("index");
      }
      check(!obj.is_undefined(), "chat template line {}: '{}' is undefined (indexing it)", e.line,
            obj.undefined_name);
      return Value::undef(to_str(key));
    }
    case Expr::Slice: {
      Value obj = eval(*e.a);
      auto opt = [&](const ExprP& x) -> std::optional<int64_t> {
        if (!x) return std::nullopt;
        Value v = eval(*x);
        if (v.is_none()) return std::nullopt;
        check(v.k == Value::K::Int, "chat template line {}: slice bounds must be integers", e.line);
        return v.i;
      };
      const auto lo = opt(e.args[0]), hi = opt(e.args[1]), st = opt(e.args[2]);
      const int64_t step = st.value_or(1);
      check(step != 0, "chat template line {}: slice step is zero", e.line);
      const bool is_str = obj.is_str();
      check(is_str || obj.k == Value::K::List, "chat template line {}: only strings and lists can be sliced", e.line);
      const int64_t n = is_str ? int64_t(obj.s.size()) : int64_t(obj.list->size());
      // Python slice.indices().
      auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
        if (!v) return dflt;
        int64_t x = *v < 0 ? *v + n : *v;
        if (step > 0) return std::clamp<int64_t>(x, 0, n);
        return std::clamp<int64_t>(x, -1, n - 1);
      };
      const int64_t b = clamp(lo, step > 0 ? 0 : n - 1), en = clamp(hi, step > 0 ? n : -1);
      std::string s;
      List l;
      for (int64_t i = b; step > 0 ? i < en : i > en; i += step) {
        if (is_str) s += obj.s[size_t(i)];
        else l.push_back((*obj.list)[size_t(i)]);
      }
      return is_str ? Value::str(s) : Value::of_list(std::move(l));
    }
    case Expr::Call: {
      Value f = eval(*e.a);
      Args args;
      for (const auto& x : e.args) args.pos.push_back(eval(*x));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      return call(f, args, e.line);
    }
    case Expr::Filter: {
      Value v = eval(*e.a);
      Args args;
      for (const auto& x : e.args) args.pos.push_back(eval(*x));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      return filter(e.name, v, args, e.line);
    }
    case Expr::Test: {
      Value v = eval(*e.a);
      Args args;
      for (const auto& x : e.args) args.pos.push_back(eval(*x));
      return Value::boolean(test(e.name, v, args, e.line) != e.negate);
    }
    case Expr::Unary: {
      Value v = eval(*e.a);
      check(v.is_num(), "chat template line {}: unary '{}' needs a number", e.line, e.name);
      if (e.name == "+") return v;
      return v.k == Value::K::Int ? Value::integer(-v.i) : Value::number(-v.f);
    }
    case Expr::Binary: return binary(e.name, eval(*e.a), eval(*e.b), e.line);
    case Expr::And: {
      Value a = eval(*e.a);
      return truthy(a) ? eval(*e.b) : a;
    }
    case Expr::Or: {
      Value a = eval(*e.a);
      return truthy(a) ? a : eval(*e.b);
    }
    case Expr::Not: return Value::boolean(!truthy(eval(*e.a)));
    case Expr::Cond:
      if (truthy(eval(*e.b))) return eval(*e.a);
      return e.c ? eval(*e.c) : Value::undef("");
    case Expr::ListLit: {
      List l;
      for (const auto& x : e.args) l.push_back(eval(*x));
      return Value::of_list(std::move(l));
    }
    case Expr::DictLit: {
      Value d = Value::of_dict({});
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(to_str(eval(*e.args[i])), eval(*e.args[i + 1]));
      return d;
    }
  }
  return Value::undef("");
}

}  // namespace

struct ChatTemplate::Impl {
  std::vector<NodeP> nodes;
};

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->nodes = Parser(lex_template(source)).parse_all();
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const json& context) const {
  check(context.is_object(), "chat template context must be a JSON object");
  Renderer r(now_);
  r.push();
  for (auto it = context.begin(); it != context.end(); ++it) r.define(it.key(), from_json(it.value()));
  r.push();  // template-level sets go here, shadowing the context
  std::string out;
  LoopSignal sig;
  r.render(impl_->nodes, out, sig);
  return out;
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token) const {
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  return render({{"messages", msgs},
                 {"add_generation_prompt", add_generation_prompt},
                 {"bos_token", bos_token},
                 {"eos_token", eos_token}});
}

}  // namespace lmkit

#include "client/bentoctl/commands.hpp"

#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "client/bentoctl/output.hpp"
#include "client/bentoctl/prompt.hpp"
#include "client/bentoctl/token_store.hpp"

namespace bentoctl {

namespace bc = bento::client;

bc::client& context::client() {
  if (!sdk) {
    bc::options o;
    o.nodes = nodes;
    o.token = token;
    o.timeout = timeout;
    o.connections_per_node = 1;
    o.client_name = "bentoctl";
    sdk = std::make_unique<bc::client>(std::move(o));
  }
  return *sdk;
}

int report(const bc::error& e) {
  std::cerr << "error: " << (e.code_text.empty() ? std::string(bc::to_string(e.code)) : e.code_text);
  if (!e.message.empty())
    std::cerr << ": " << e.message;
  if (!e.item_id.empty())
    std::cerr << " (item " << e.item_id << ")";
  std::cerr << "\n";
  // The SDK says timeout only when nothing can have changed (a write that may have been sent and got no
  // answer is outcome_unknown); cancelled, shutting_down and too_many_connections come before sending.
  switch (e.code) {
    case bc::errc::unreachable:
    case bc::errc::timeout:
    case bc::errc::cancelled:
    case bc::errc::shutting_down:
    case bc::errc::too_many_connections: return exit_code::unreachable;
    default: return exit_code::refused;
  }
}

namespace {

/// A usage mistake found while reading a command's arguments.
struct usage_error {
  std::string message;
};

int64_t integer(const std::string& name, const std::string& text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min || v > max)
    throw usage_error{name + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max)};
  return v;
}

bc::meal meal_of(const std::string& text) {
  if (text == "breakfast")
    return bc::meal::breakfast;
  if (text == "lunch")
    return bc::meal::lunch;
  if (text == "dinner")
    return bc::meal::dinner;
  throw usage_error{"meal must be breakfast, lunch or dinner"};
}

bc::order_status status_of(const std::string& text) {
  if (text == "placed")
    return bc::order_status::placed;
  if (text == "confirmed")
    return bc::order_status::confirmed;
  if (text == "delivered")
    return bc::order_status::delivered;
  if (text == "cancelled")
    return bc::order_status::cancelled;
  throw usage_error{"status must be placed, confirmed, delivered or cancelled"};
}

/// IID=QTY
bc::line_request line_of(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw usage_error{"items are IID=QTY, got '" + text + "'"};
  return bc::line_request{text.substr(0, eq),
                          static_cast<int32_t>(integer("QTY of " + text.substr(0, eq), text.substr(eq + 1), 1, 1000))};
}

std::string password_of(const args& a, const std::string& prompt) {
  if (auto p = a.get("password"))
    return *p;
  if (const char* env = std::getenv("BENTO_PASSWORD"); env && *env)
    return env;
  auto typed = read_password(prompt);
  if (!typed || typed->empty())
    throw usage_error{"a password is needed: --password, BENTO_PASSWORD or the prompt"};
  return *typed;
}

/// Prints a reply: its JSON with --json, else what `human` makes of it.
template <class T, class Human>
int print(context& ctx, const bc::result<T>& r, Human human) {
  if (!r)
    return report(r.error());
  if (ctx.json)
    std::cout << to_json(*r).dump(2) << "\n";
  else
    std::cout << human(*r);
  return exit_code::ok;
}

std::string items_table(const std::vector<bc::menu_item>& items, bool with_restaurant) {
  std::vector<std::vector<std::string>> rows;
  for (auto& i : items) {
    std::vector<std::string> row;
    if (with_restaurant)
      row.push_back(i.restaurant_name + " (" + i.restaurant_id + ")");
    row.insert(row.end(), {i.id, i.name, money(i.price_cents), std::to_string(i.stock),
                           i.daily_stock > 0 ? std::to_string(i.daily_stock) + "/day" : "", std::to_string(i.version)});
    rows.push_back(std::move(row));
  }
  std::vector<std::string> headers;
  if (with_restaurant)
    headers.push_back("RESTAURANT");
  headers.insert(headers.end(), {"ITEM", "NAME", "PRICE", "STOCK", "DAILY", "VERSION"});
  return table(headers, rows);
}

std::string orders_table(const std::vector<bc::order>& orders) {
  std::vector<std::vector<std::string>> rows;
  for (auto& o : orders) {
    std::string items;
    for (auto& l : o.lines)
      items += (items.empty() ? "" : ", ") + l.item_id + "x" + std::to_string(l.qty);
    rows.push_back({o.id, to_string(o.status), o.date, to_string(o.meal), money(o.total_cents), items});
  }
  return table({"ORDER", "STATUS", "DATE", "MEAL", "TOTAL", "ITEMS"}, rows);
}

std::string order_text(const bc::order& o) {
  std::string out = "order " + o.id + " " + to_string(o.status) + " at " + o.restaurant_name + " (" +
                    o.restaurant_id + ") for " + o.date + " " + to_string(o.meal) + ", total " +
                    money(o.total_cents) + "\n";
  std::vector<std::vector<std::string>> rows;
  for (auto& l : o.lines)
    rows.push_back({l.item_id, l.name, std::to_string(l.qty), money(l.price_cents)});
  out += table({"ITEM", "NAME", "QTY", "PRICE"}, rows);
  if (!o.note.empty())
    out += "note: " + o.note + "\n";
  if (!o.merchant_note.empty())
    out += "merchant note: " + o.merchant_note + "\n";
  return out;
}

std::string more(const std::string& cursor) {
  return cursor.empty() ? "" : "more: --cursor " + cursor + "\n";
}

int user_register(context& ctx, const args& a) {
  bc::register_request r;
  r.username = a.positional()[0];
  r.email = *a.get("email");
  auto role = *a.get("role");
  if (role != "customer" && role != "merchant")
    throw usage_error{"--role must be customer or merchant"};
  r.role = role == "merchant" ? bc::role::merchant : bc::role::customer;
  r.place = a.get("place").value_or("");
  r.password = password_of(a, "password for " + r.username + ": ");
  return print(ctx, ctx.client().register_user(r), [](const bc::user& u) {
    return "registered " + u.username + " (" + to_string(u.role) + ", id " + u.id + ")\n";
  });
}

int login(context& ctx, const args& a) {
  auto name = a.positional()[0];
  auto password = password_of(a, "password for " + name + ": ");
  auto s = ctx.client().login(name, password);
  if (!s)
    return report(s.error());
  std::string error;
  if (!save_token(s->token, error)) {
    std::cerr << "error: logged in, but the token could not be saved: " << error << "\n";
    return exit_code::refused;
  }
  if (ctx.json)
    std::cout << to_json(*s).dump(2) << "\n";
  else
    std::cout << "logged in as " << s->user.username << " (" << to_string(s->user.role) << ") until "
              << iso8601(s->expires_at_ms) << "; token saved to " << token_path().value_or("?") << "\n";
  return exit_code::ok;
}

int logout(context& ctx, const args&) {
  auto r = ctx.client().logout();
  // The saved token is no use either way: ended now, or already invalid.
  if (r || r.error().code == bc::errc::unauthorized)
    forget_token();
  if (!r)
    return report(r.error());
  if (!ctx.json)
    std::cout << "logged out\n";
  return exit_code::ok;
}

int me(context& ctx, const args&) {
  return print(ctx, ctx.client().me(), [](const bc::user& u) {
    return table({"ID", "USERNAME", "ROLE", "EMAIL", "PLACE"},
                 {{u.id, u.username, to_string(u.role), u.email, u.place}});
  });
}

int restaurant_create(context& ctx, const args& a) {
  bc::create_restaurant_request r{a.positional()[0], *a.get("place")};
  return print(ctx, ctx.client().create_restaurant(r), [](const bc::restaurant& x) {
    return "created restaurant " + x.id + " (" + x.name + ", " + x.place + ")\n";
  });
}

int restaurant_list(context& ctx, const args& a) {
  bc::list_restaurants_request r;
  r.place = a.get("place").value_or("");
  r.cursor = a.get("cursor").value_or("");
  if (auto l = a.get("limit"))
    r.limit = static_cast<uint32_t>(integer("--limit", *l, 1, 500));
  return print(ctx, ctx.client().list_restaurants(r), [](const bc::restaurant_list& l) {
    std::vector<std::vector<std::string>> rows;
    for (auto& x : l.restaurants)
      rows.push_back({x.id, x.name, x.place});
    return table({"ID", "NAME", "PLACE"}, rows) + more(l.next_cursor);
  });
}

int menu_set_item(context& ctx, const args& a) {
  bc::put_item_request r;
  r.restaurant_id = a.positional()[0];
  r.item_id = a.positional()[1];
  r.name = *a.get("name");
  r.description = a.get("description").value_or("");
  r.price_cents = integer("--price-cents", *a.get("price-cents"), 0, INT64_MAX);
  if (auto d = a.get("daily-stock"))
    r.daily_stock = integer("--daily-stock", *d, 0, INT64_MAX);
  if (auto s = a.get("stock"))
    r.stock = integer("--stock", *s, 0, INT64_MAX);
  else if (r.daily_stock == 0)
    throw usage_error{"--stock is required (or --daily-stock for an item with a stock per day)"};
  r.tags = a.all("tag");
  for (auto& m : a.all("meal"))
    r.meals.push_back(meal_of(m));
  r.image_url = a.get("image-url").value_or("");
  if (auto v = a.get("if-match"))
    r.if_match = static_cast<uint64_t>(integer("--if-match", *v, 0, INT64_MAX));
  r.create_only = a.has("create-only");
  auto written = ctx.client().put_item(r);
  if (!written)
    return report(written.error());
  if (ctx.json)
    std::cout << to_json(written->item).dump(2) << "\n";
  else
    std::cout << (written->created ? "created " : "updated ") << "item " << written->item.id << " (version "
              << written->item.version << ")\n";
  return exit_code::ok;
}

int menu_rm_item(context& ctx, const args& a) {
  bc::delete_item_request r{a.positional()[0], a.positional()[1], std::nullopt};
  if (auto v = a.get("if-match"))
    r.if_match = static_cast<uint64_t>(integer("--if-match", *v, 0, INT64_MAX));
  auto done = ctx.client().delete_item(r);
  if (!done)
    return report(done.error());
  if (!ctx.json)
    std::cout << "deleted item " << r.item_id << "\n";
  return exit_code::ok;
}

int menu_show(context& ctx, const args& a) {
  bc::get_menu_request r{a.positional()[0], a.get("date").value_or("")};
  return print(ctx, ctx.client().get_menu(r), [](const bc::menu& m) {
    return m.restaurant.name + " (" + m.restaurant.id + ", " + m.restaurant.place + ")\n" +
           items_table(m.items, false);
  });
}

int menu_list(context& ctx, const args& a) {
  bc::search_menu_request r;
  r.place = a.get("place").value_or("");
  r.tag = a.get("tag").value_or("");
  r.query = a.get("query").value_or("");
  r.date = a.get("date").value_or("");
  r.cursor = a.get("cursor").value_or("");
  if (auto m = a.get("meal"))
    r.meal = meal_of(*m);
  if (auto l = a.get("limit"))
    r.limit = static_cast<uint32_t>(integer("--limit", *l, 1, 100));
  return print(ctx, ctx.client().search_menu(r), [](const bc::menu_page& p) {
    return items_table(p.items, true) + more(p.next_cursor);
  });
}

std::string shell_word(const std::string& w) {
  bool plain = !w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                 "_-.,:/=@+%") == std::string::npos;
  if (plain)
    return w;
  std::string q = "'";
  for (char c : w)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// The command line as given, with `--idempotency-key key` (replacing any given), ready to paste. A --token
/// given on the line is left out, not echoed: the retry needs the same one (or the saved one).
std::string retry_command(const context& ctx, const std::string& key, bool& token_left_out) {
  std::string out = "bentoctl";
  token_left_out = false;
  for (size_t i = 0; i < ctx.argv.size(); ++i) {
    const auto& w = ctx.argv[i];
    bool key_option = w == "--idempotency-key", token_option = w == "--token";
    if (key_option || token_option) {
      ++i; // and its value
      token_left_out |= token_option;
      continue;
    }
    if (w.rfind("--idempotency-key=", 0) == 0)
      continue;
    if (w.rfind("--token=", 0) == 0) {
      token_left_out = true;
      continue;
    }
    out += " " + shell_word(w);
  }
  return out + " --idempotency-key " + shell_word(key);
}

int order_place(context& ctx, const args& a) {
  bc::place_order_request r;
  r.restaurant_id = a.positional()[0];
  for (size_t i = 1; i < a.positional().size(); ++i)
    r.lines.push_back(line_of(a.positional()[i]));
  if (auto m = a.get("meal"))
    r.meal = meal_of(*m);
  r.date = a.get("date").value_or("");
  r.note = a.get("note").value_or("");
  if (auto k = a.get("idempotency-key"))
    r.idempotency_key = *k;
  auto placed = ctx.client().place_order(r);
  if (placed || placed.error().idempotency_key.empty())
    return print(ctx, placed, order_text);
  // Sent, and no definite answer: the order may exist. The same key tells, without ordering twice.
  int code = report(placed.error());
  bool token_left_out = false;
  auto again = retry_command(ctx, placed.error().idempotency_key, token_left_out);
  std::cerr << "the order may or may not have been placed. To find out without ordering twice, run it again with "
               "the same idempotency key" << (token_left_out ? " (and the same --token)" : "") << ":\n  "
            << again << "\n";
  return code;
}

int order_list(context& ctx, const args& a) {
  bc::list_orders_request r;
  if (auto s = a.get("status"))
    r.status = status_of(*s);
  r.month = a.get("month").value_or("");
  r.cursor = a.get("cursor").value_or("");
  if (auto l = a.get("limit"))
    r.limit = static_cast<uint32_t>(integer("--limit", *l, 1, 500));
  return print(ctx, ctx.client().list_orders(r),
               [](const bc::order_list& l) { return orders_table(l.orders) + more(l.next_cursor); });
}

int order_edit(context& ctx, const args& a) {
  bc::edit_order_request r;
  r.order_id = a.positional()[0];
  if (a.has("item")) {
    r.lines.emplace();
    for (auto& text : a.all("item"))
      r.lines->push_back(line_of(text));
  }
  if (auto n = a.get("merchant-note"))
    r.merchant_note = *n;
  if (!r.lines && !r.merchant_note)
    throw usage_error{"give --item IID=QTY and/or --merchant-note"};
  return print(ctx, ctx.client().edit_order(r), order_text);
}

std::function<int(context&, const args&)> order_action(bc::result<bc::order> (bc::client::*call)(const std::string&)) {
  return [call](context& ctx, const args& a) {
    return print(ctx, (ctx.client().*call)(a.positional()[0]), order_text);
  };
}

int cluster_status(context& ctx, const args&) {
  return print(ctx, ctx.client().get_cluster_status(), [](const bc::cluster_status& s) {
    std::vector<std::vector<std::string>> rows;
    for (auto& m : s.members)
      rows.push_back({m.id, m.state, m.address, m.client_address, std::to_string(m.shards_led),
                      std::to_string(m.shards_replicated)});
    return std::string(s.clustered ? "cluster" : "single node") + ": " + std::to_string(s.shards) +
           " shards, " + std::to_string(s.replicas) + " replicas each (answered by " + s.node_id + ")\n" +
           table({"NODE", "STATE", "ADDRESS", "CLIENT ADDRESS", "LED", "REPLICATED"}, rows);
  });
}

int admin_decommission(context& ctx, const args& a) {
  auto admin = a.get("admin-token");
  if (!admin)
    if (const char* env = std::getenv("BENTO_ADMIN_TOKEN"); env && *env)
      admin = env;
  if (!admin)
    throw usage_error{"the admin token is needed: --admin-token or BENTO_ADMIN_TOKEN"};
  const auto& node = a.positional()[0];
  auto done = ctx.client().decommission_node(node, *admin);
  if (!done)
    return report(done.error());
  if (ctx.json)
    std::cout << json{{"node", node}, {"state", "leaving"}}.dump(2) << "\n";
  else
    std::cout << node << " is leaving: its shards move to the other members (watch `bentoctl cluster status`)\n";
  return exit_code::ok;
}

/// Runs a command body, turning usage mistakes found inside it into exit code 2.
std::function<int(context&, const args&)> guarded(std::function<int(context&, const args&)> body) {
  return [body = std::move(body)](context& ctx, const args& a) {
    try {
      return body(ctx, a);
    } catch (const usage_error& e) {
      std::cerr << "usage: " << e.message << "\n";
      return static_cast<int>(exit_code::usage);
    }
  };
}

std::vector<command> make_commands() {
  const option_spec place{"place"}, limit{"limit"}, cursor{"cursor"}, date{"date"}, if_match{"if-match"};
  std::vector<command> c = {
    {{"user", "register"}, "USERNAME", "create an account",
     {{"email"}, {"role"}, place, {"password"}}, 1, 1, user_register},
    {{"login"}, "USERNAME", "log in and keep the session token for later commands", {{"password"}}, 1, 1, login},
    {{"logout"}, "", "end the session and forget its token", {}, 0, 0, logout},
    {{"me"}, "", "who the token belongs to", {}, 0, 0, me},
    {{"restaurant", "create"}, "NAME", "open a restaurant (merchants)", {place}, 1, 1, restaurant_create},
    {{"restaurant", "list"}, "", "restaurants, by place and name", {place, limit, cursor}, 0, 0, restaurant_list},
    {{"menu", "set-item"}, "RID IID", "create or replace a menu item (merchants)",
     {{"name"}, {"price-cents"}, {"stock"}, {"daily-stock"}, {"tag", true, true}, {"meal", true, true},
      {"description"}, {"image-url"}, if_match, {"create-only", false}},
     2, 2, menu_set_item},
    {{"menu", "rm-item"}, "RID IID", "delete a menu item (merchants)", {if_match}, 2, 2, menu_rm_item},
    {{"menu", "show"}, "RID", "a restaurant's menu with its stock", {date}, 1, 1, menu_show},
    {{"menu", "list"}, "", "search every restaurant's items",
     {place, {"tag"}, {"meal"}, {"query"}, date, limit, cursor}, 0, 0, menu_list},
    {{"order", "place"}, "RID IID=QTY...", "order items (customers)",
     {{"meal"}, date, {"note"}, {"idempotency-key"}}, 2, SIZE_MAX, order_place},
    {{"order", "list"}, "", "your orders (a merchant: your restaurants' orders), newest first",
     {{"status"}, {"month"}, limit, cursor}, 0, 0, order_list},
    {{"order", "show"}, "OID", "one order", {}, 1, 1, order_action(&bc::client::get_order)},
    {{"order", "confirm"}, "OID", "accept an order (merchants)", {}, 1, 1, order_action(&bc::client::confirm_order)},
    {{"order", "deliver"}, "OID", "mark an order delivered (merchants)", {}, 1, 1,
     order_action(&bc::client::deliver_order)},
    {{"order", "cancel"}, "OID", "cancel an order", {}, 1, 1, order_action(&bc::client::cancel_order)},
    {{"order", "edit"}, "OID", "change quantities or the merchant's note (merchants)",
     {{"item", true, true}, {"merchant-note"}}, 1, 1, order_edit},
    {{"cluster", "status"}, "", "members, their state and the shards they lead", {}, 0, 0, cluster_status},
    {{"admin", "decommission"}, "NODE", "move a member's shards away before it is stopped (BENTO_ADMIN_TOKEN)",
     {{"admin-token"}}, 1, 1, admin_decommission},
  };
  // Required options, checked before anything is sent.
  auto requires_options = [](std::vector<std::string> names, std::function<int(context&, const args&)> run) {
    return [names = std::move(names), run = std::move(run)](context& ctx, const args& a) {
      for (auto& n : names)
        if (!a.has(n))
          throw usage_error{"--" + n + " is required"};
      return run(ctx, a);
    };
  };
  for (auto& cmd : c) {
    if (cmd.words == std::vector<std::string>{"user", "register"})
      cmd.run = requires_options({"email", "role"}, cmd.run);
    else if (cmd.words == std::vector<std::string>{"restaurant", "create"})
      cmd.run = requires_options({"place"}, cmd.run);
    else if (cmd.words == std::vector<std::string>{"menu", "set-item"})
      cmd.run = requires_options({"name", "price-cents"}, cmd.run);
    cmd.run = guarded(cmd.run);
  }
  return c;
}

} // namespace

const std::vector<command>& commands() {
  static const std::vector<command> all = make_commands();
  return all;
}

} // namespace bentoctl

#pragma once
// Entity actors whose handlers are shared by every actor of their kind. A behavior whose handlers each capture
// their actor is one heap object per actor: ~380 B for an order's eight handlers, a fifth of an idle order
// (bench/scale.py). Handlers that capture nothing can be built once per kind and shared (CAF's behaviors are
// immutable, reference-counted objects); they find the actor they run for with running(), set while CAF runs
// that actor's messages (resume), on the running thread.
#include <cstdlib>
#include <string>

#include <caf/actor_config.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

namespace bento::actors {

/// Handle: the entity's typed actor handle; State: its state. Derive the entity's class from this, fill its
/// state in the constructor, and return the kind's shared behavior from make_behavior.
template <class Handle, class State>
class shared_behavior_entity : public Handle::template stateful_base<State> {
public:
  using super = typename Handle::template stateful_base<State>;
  using pointer = typename Handle::template stateful_pointer<State>;

  explicit shared_behavior_entity(caf::actor_config& cfg) : super(cfg) {}

  caf::resumable::resume_result resume(caf::execution_unit* eu, size_t max_throughput) override {
    // Saved and restored, not cleared: nothing in CAF runs one actor inside another's resume today, and if it
    // ever did, the outer actor's handlers must still find themselves afterwards.
    auto* outer = current_;
    current_ = this;
    auto result = super::resume(eu, max_throughput);
    current_ = outer;
    return result;
  }

  /// The actor of this kind whose message the calling thread handles now. Only for the shared handlers: a
  /// handler CAF ran outside resume would find none, which must never pass unnoticed.
  static pointer running() {
    if (current_ == nullptr) {
      spdlog::critical("entity.no_running_actor kind={}", State::name);
      std::abort();
    }
    return current_;
  }

private:
  static inline thread_local pointer current_ = nullptr;
};

/// An entity's actor class: spawned with its context and its key, kept in the state's `ctx` and `*Key`, with
/// `Make` (activation: load, then return the kind's shared handlers) as its behavior.
template <class Handle, class State, std::string State::*Key,
          typename Handle::behavior_type (*Make)(typename shared_behavior_entity<Handle, State>::pointer)>
class entity_actor final : public shared_behavior_entity<Handle, State> {
public:
  using context_ptr = decltype(State::ctx);
  entity_actor(caf::actor_config& cfg, context_ptr ctx, std::string key)
    : shared_behavior_entity<Handle, State>(cfg) {
    this->state.ctx = std::move(ctx);
    this->state.*Key = std::move(key);
  }
  typename Handle::behavior_type make_behavior() override { return Make(this); }
};

} // namespace bento::actors

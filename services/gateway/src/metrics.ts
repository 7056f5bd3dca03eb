import { HotCounter } from '@parley/observability';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Gateway metrics; names follow `parley_gateway_<name>_<unit>`. Labels are bounded: tenants yes,
 * rooms and users never. Counters touched for every message are `HotCounter`s.
 */
export function createGatewayMetrics(registry: Registry) {
  const registers = [registry];
  return {
    connections: new Gauge({ name: 'parley_gateway_connections', help: 'Open client connections (WebSocket and SSE)', labelNames: ['tenant'], registers }),
    connectionsOpened: new Counter({ name: 'parley_gateway_connections_opened_total', help: 'Accepted client connections (WebSocket and SSE)', labelNames: ['tenant'], registers }),
    compressedConnections: new Counter({
      name: 'parley_gateway_compressed_connections_total',
      help: 'WebSocket connections that negotiated permessage-deflate (PARLEY_WS_COMPRESSION)',
      registers,
    }),
    sseConnections: new Gauge({ name: 'parley_gateway_sse_connections', help: 'SSE connections held by this gateway, their streams attached or waiting to be resumed', registers }),
    sseTickets: new Counter({
      name: 'parley_gateway_sse_tickets_total',
      help: 'SSE connection tickets by result: issued, redeemed, ticket_invalid (unknown, spent or expired), token_in_url, or the error code of a refused token',
      labelNames: ['result'],
      registers,
    }),
    sseResumes: new Counter({ name: 'parley_gateway_sse_resumes_total', help: 'SSE streams reopened with Last-Event-ID: resumed, or refused (closed, elsewhere, or too far behind)', labelNames: ['result'], registers }),
    connectionsClosed: new Counter({ name: 'parley_gateway_connections_closed_total', help: 'Closed client connections (WebSocket and SSE) by reason', labelNames: ['reason'], registers }),
    connectionsRefused: new Counter({ name: 'parley_gateway_connections_refused_total', help: 'Connections refused at the handshake, by error code', labelNames: ['code'], registers }),
    framesIn: new HotCounter({ name: 'parley_gateway_frames_received_total', help: 'Frames received from clients, by type', labelNames: ['type'], registers }),
    bytesIn: new Counter({ name: 'parley_gateway_received_bytes_total', help: 'Bytes received from clients in frames', registers }),
    framesOut: new HotCounter({ name: 'parley_gateway_frames_sent_total', help: 'Frames sent directly to one client (replies, errors), by type', labelNames: ['type'], registers }),
    /** Incremented by the sender of each direct frame (`Session.reply`) with its UTF-8 length. */
    bytesOut: new Counter({ name: 'parley_gateway_sent_bytes_total', help: 'Bytes of frames sent directly to one client (replies, errors); fan-out is in parley_gateway_bus_delivered_bytes_total', registers }),
    deliveries: new HotCounter({ name: 'parley_gateway_bus_deliveries_total', help: 'Bus messages fanned out to local sockets, by kind', labelNames: ['kind'], registers }),
    /** Incremented with `deliveries`: the bytes handed once to the native fan-out, whatever the number of local recipients. */
    deliveredBytes: new HotCounter({ name: 'parley_gateway_bus_delivered_bytes_total', help: 'Bytes of bus messages fanned out to local sockets (once per message, not per recipient), by kind', labelNames: ['kind'], registers }),
    published: new HotCounter({ name: 'parley_gateway_messages_published_total', help: 'Client messages accepted and published on the bus, by kind', labelNames: ['tenant', 'kind'], registers }),
    errors: new Counter({ name: 'parley_gateway_errors_total', help: 'Error frames sent to clients, by code', labelNames: ['code'], registers }),
    publishDuplicates: new Counter({ name: 'parley_gateway_publish_duplicates_total', help: 'Publishes dropped as a repeat of a publish id seen within the window (tenants without history; JetStream drops those of history tenants)', labelNames: ['tenant'], registers }),
    publishDedupeEvicted: new Counter({ name: 'parley_gateway_publish_dedupe_evictions_total', help: 'Publish ids forgotten before the end of their window because the per-tenant bound was reached', labelNames: ['tenant'], registers }),
    ephemeralRateLimited: new Counter({ name: 'parley_gateway_ephemeral_rate_limited_total', help: 'Ephemeral publishes refused by their own per-connection rate limit', labelNames: ['tenant'], registers }),
    rateLimited: new Counter({ name: 'parley_gateway_rate_limited_total', help: 'Frames refused by the per-connection rate limit', labelNames: ['tenant'], registers }),
    slowConsumers: new Counter({ name: 'parley_gateway_slow_consumer_closes_total', help: 'Connections closed because their send buffer overflowed', labelNames: ['tenant'], registers }),
    deliveryLatency: new Histogram({
      name: 'parley_gateway_delivery_latency_seconds',
      help: 'Time from publish (on any gateway) to fan-out on this gateway',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    rooms: new Gauge({ name: 'parley_gateway_rooms', help: 'Rooms with at least one local member', registers }),
    busSubscriptions: new Gauge({ name: 'parley_gateway_bus_subscriptions', help: 'Bus subscriptions held by this gateway', registers }),
    directWildcards: new Gauge({
      name: 'parley_gateway_direct_message_wildcards',
      help: 'Tenants whose direct messages this gateway takes with one wildcard subscription (past 1,000 local users of the tenant)',
      registers,
    }),
    busConnected: new Gauge({ name: 'parley_gateway_bus_connected', help: '1 when the message bus is connected', registers }),
    busStateChanges: new Counter({ name: 'parley_gateway_bus_state_changes_total', help: 'Bus state transitions, by new state', labelNames: ['state'], registers }),
    presenceRejoins: new Counter({
      name: 'parley_gateway_presence_rejoins_total',
      help: 'presence.join events sent again because a heartbeat found the user\'s entries swept (the gateway stalled past the TTL, or Redis lost them)',
      registers,
    }),
    presenceErrors: new Counter({ name: 'parley_gateway_presence_errors_total', help: 'Presence store operations that failed', labelNames: ['op'], registers }),
    historyAppends: new Counter({ name: 'parley_gateway_history_appends_total', help: 'Room messages of history tenants stored (or not) before their ack', labelNames: ['tenant', 'result'], registers }),
    historyReplayed: new Counter({ name: 'parley_gateway_history_replayed_messages_total', help: 'Stored messages replayed to resuming clients', registers }),
    historyResumes: new Counter({
      name: 'parley_gateway_history_resumes_total',
      help: "Joins with since, by where the missed messages came from: memory (the room's feed still held them all) or store (read from JetStream)",
      labelNames: ['source'],
      registers,
    }),
    historyGaps: new Counter({ name: 'parley_gateway_history_gaps_total', help: 'Resumes told history_gap (messages after their seq no longer retained)', labelNames: ['tenant'], registers }),
    historyFeeds: new Gauge({ name: 'parley_gateway_history_feeds', help: 'Rooms followed from history (one JetStream consumer each) on this gateway', registers }),
    historyFeedRepairs: new Counter({
      name: 'parley_gateway_history_feed_repairs_total',
      help: 'History feeds that stalled (or lost their consumer) and were resubscribed from their last seq, by reason',
      labelNames: ['reason'],
      registers,
    }),
    historyWritable: new Gauge({
      name: 'parley_gateway_history_writable',
      help: '0 while history cannot be written (the last append failed for good and a probe of its stream fails), else 1; updated on /readyz and /metrics',
      registers,
    }),
    stalls: new Counter({
      name: 'parley_gateway_stalls_total',
      help: 'Times the event loop did not run for over a second (GC pause, SIGSTOP, stopped VM); messages sent meanwhile got rate-limit credit',
      registers,
    }),
    revocations: new Gauge({ name: 'parley_gateway_revocations', help: 'Revoked users and token ids remembered (every tenant), until their tokens expire', registers }),
    moderationActions: new Counter({ name: 'parley_gateway_moderation_actions_total', help: "Moderators' actions applied from their clients, by action (kick, ban, mute, delete, settings, …)", labelNames: ['action'], registers }),
    moderationRefusals: new Counter({
      name: 'parley_gateway_moderation_refusals_total',
      help: 'Joins and publishes refused by a room\'s moderation, by reason: banned, muted, read_only, slow_mode, invite_only, room_full',
      labelNames: ['reason'],
      registers,
    }),
    moderationStoreErrors: new Counter({
      name: 'parley_gateway_moderation_store_errors_total',
      help: 'Moderation state that could not be read from the store; the gateway went on with what it had cached (rooms it had not loaded were open)',
      registers,
    }),
    moderationCachedRooms: new Gauge({ name: 'parley_gateway_moderation_cached_rooms', help: 'Rooms whose moderation state this gateway holds (rooms with local members, and recently used others)', registers }),
    revocationsEvicted: new Counter({
      name: 'parley_gateway_revocations_evicted_total',
      help: 'Revocations forgotten before their tokens expired because their tenant passed PARLEY_MAX_REVOCATIONS_PER_TENANT (0 when auth has the same bound)',
      registers,
    }),
    ready: new Gauge({ name: 'parley_gateway_ready', help: '1 when this gateway accepts connections', registers }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

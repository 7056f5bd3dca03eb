export { WEBHOOK_EVENT_TYPES, eventsFromMessage, orderKey, type WebhookEvent, type WebhookEventType } from './events.ts';
export { endpointInputSchema, MAX_ENDPOINTS_PER_TENANT, newEndpoint, publicEndpoint, wants, type EndpointInput, type WebhookEndpoint } from './endpoint.ts';
export { createMemoryEndpointStore, type EndpointStore } from './endpoint-store.ts';
export { createKvEndpointStore, ENDPOINTS_BUCKET } from './kv-endpoint-store.ts';
export { isNonPublicAddress, refusalOf, STRICT_URL_POLICY, urlPolicyFromEnv, type UrlPolicy } from './url-policy.ts';
export { deliver, MAX_RESPONSE_BYTES, type DeliveryOptions, type DeliveryResult } from './delivery.ts';
export { combineObservers, createDispatcher, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS, DEFAULT_RETRY_PERIOD_MS, DispatcherStopped, type Dispatcher, type DispatcherObserver, type DispatcherOptions } from './dispatcher.ts';
export { createJetStreamEventSource, DISPATCHER_CONSUMER, EVENT_SUBJECTS, EVENTS_STREAM, type EventSource, type JetStreamEventSourceOptions } from './jetstream-event-source.ts';
export { createBusEventSource } from './bus-event-source.ts';
export { createFileEndpointStore } from './file-endpoint-store.ts';
export {
  createMemoryEndpointStateStore,
  createStateReporter,
  mergeEndpointStates,
  STATE_STALE_MS,
  type DispatcherEndpointState,
  type EndpointState,
  type EndpointStateStore,
  type StateReporterOptions,
} from './endpoint-state.ts';
export { createKvEndpointStateStore, STATE_BUCKET } from './kv-endpoint-state-store.ts';
export { createMessageRecorder, type MessageRecorder, type MessageRecorderOptions, type MessageTap } from './message-recorder.ts';
export { createDispatchLease, DEFAULT_LEASE_RENEW_MS, DEFAULT_LEASE_TTL_MS, LEASE_BUCKET, type DispatchLease, type DispatchLeaseOptions } from './dispatch-lease.ts';

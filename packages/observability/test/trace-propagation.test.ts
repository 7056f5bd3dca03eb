import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTracedBus } from '@parley/bus';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { startNats, type NatsProcess, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway } from '../../../services/gateway/test/support.ts';
import { initTracing, type Tracing } from '../src/index.ts';

/** Two gateways in this process, each with its own tracer provider and exporter, over a real NATS server. */
describe('trace propagation', () => {
  let nats: NatsProcess;
  const buses: NatsBus[] = [];
  const tracings: Tracing[] = [];
  const gateways: TestGateway[] = [];
  const clients: TestClient[] = [];
  const exporterA = new InMemorySpanExporter();
  const exporterB = new InMemorySpanExporter();

  beforeAll(async () => {
    nats = await startNats();
    const keys = await createTestKeys();
    for (const [name, exporter] of [['gw-a', exporterA], ['gw-b', exporterB]] as const) {
      const tracing = await initTracing('gateway', { exporter, instanceId: name });
      const bus = await createNatsBus({ servers: nats.url, name });
      tracings.push(tracing);
      buses.push(bus);
      gateways.push(await startTestGateway(keys, { bus: createTracedBus(bus, { tracer: tracing.tracer }), gatewayId: name }));
    }
    const [a, b] = gateways as [TestGateway, TestGateway];
    clients.push(await join(a.wsUrl, await mintToken(keys, { sub: 'alice' }), ['secret-lobby']));
    clients.push(await join(b.wsUrl, await mintToken(keys, { sub: 'bob' }), ['secret-lobby']));
    // B's room subscription is active on the server once B's connection has done a round trip.
    await buses[1]?.raw.flush();
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(gateways.map((g) => g.gateway.close()));
    await Promise.allSettled(buses.map((b) => b.close()));
    await Promise.allSettled(tracings.map((t) => t.shutdown()));
    await nats?.cleanup();
  });

  it('trace propagation - a publish on gateway A and its delivery on gateway B share one trace id', async () => {
    const [alice, bob] = clients as [TestClient, TestClient];
    exporterA.reset();
    exporterB.reset();
    const ack = await alice.request({ type: 'publish', room: 'secret-lobby', data: { text: 'hello' } });
    expect(ack.type).toBe('ack');
    const message = await bob.waitFor((f) => f.type === 'message' && f.msgId === ack.msgId);
    expect(message.data).toEqual({ text: 'hello' });

    const producer = exporterA.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER && s.name === 'publish chat.acme');
    // Spans end after the handler returns; B's consumer span is exported before bob could read the frame.
    const consumer = exporterB.getFinishedSpans().find((s) => s.kind === SpanKind.CONSUMER && s.name === 'process chat.acme');
    expect(producer, 'producer span on A').toBeDefined();
    expect(consumer, 'consumer span on B').toBeDefined();
    const p = producer as ReadableSpan;
    const c = consumer as ReadableSpan;
    expect(c.spanContext().traceId).toBe(p.spanContext().traceId);
    expect(c.parentSpanContext?.spanId).toBe(p.spanContext().spanId);
    expect(p.resource.attributes['service.instance.id']).toBe('gw-a');
    expect(c.resource.attributes['service.instance.id']).toBe('gw-b');
    expect(c.attributes['messaging.message.id']).toBe(ack.msgId);
    // Neither the room name nor its subject token appears in any span.
    const all = JSON.stringify([...exporterA.getFinishedSpans(), ...exporterB.getFinishedSpans()].map((s) => [s.name, s.attributes]));
    expect(all).not.toContain('secret');
    expect(all).not.toContain(Buffer.from('secret-lobby').toString('base64url'));
  });
});

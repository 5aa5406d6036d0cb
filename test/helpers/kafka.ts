import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { packageRoot } from '../../src/packageRoot.js';
import { killProcess } from './killProcess.js';
import { startOnFreePorts } from './spawnService.js';
import { waitFor } from './waitFor.js';

/** The Kafka release scripts/build-kafka.sh fetches from Maven Central. */
export const KAFKA_VERSION = '4.4.0';
/** Lines of the broker's own output kept for a failing test's message. */
const LOG_TAIL_LINES = 80;
/** A cold JVM on two busy cores starts the broker in 5-20 s. */
const START_TIMEOUT_MS = 90_000;
/** The line KafkaRaftServer logs once the broker and controller are both up. */
const STARTED_LINE = 'Kafka Server started';

/**
 * The folder of jars scripts/build-kafka.sh fetched: linked from the clone as
 * .tools/kafka-<version>, kept in the per-user cache keyed by version.
 */
export function kafkaLibs(): string {
  const candidates = [
    join(packageRoot, '.tools', `kafka-${KAFKA_VERSION}`),
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fraud-scoring', `kafka-${KAFKA_VERSION}`, 'libs'),
  ];
  const found = candidates.find((candidate) => existsSync(join(candidate, `kafka_2.13-${KAFKA_VERSION}.jar`)));
  if (found === undefined) {
    throw new Error(`Kafka ${KAFKA_VERSION} is not fetched (looked at ${candidates.join(', ')}); run: bash scripts/build-kafka.sh (npm test does)`);
  }
  return found;
}

/** SASL/PLAIN on the client listener: the broker's own user (the tests' clients use it too) and one more user. */
export interface KafkaSaslUsers {
  readonly admin: { readonly username: string; readonly password: string };
  readonly user: { readonly username: string; readonly password: string };
}

/** A message read back from a topic: its key and value as text, and the partition it was in. */
export interface ReadMessage {
  readonly key: string;
  readonly value: string;
  readonly partition: number;
}

/**
 * A real Apache Kafka broker on 127.0.0.1: one KRaft node that is both broker
 * and controller (no ZooKeeper), its storage formatted in a folder of its own,
 * on free ports. It can be stopped (SIGKILL: an outage) and started again on
 * the same data and ports, to play outages.
 */
export class KafkaBroker {
  readonly bootstrap: string;
  private process: ChildProcess | undefined;
  private output: string[] = [];

  private constructor(
    private readonly port: number,
    private readonly controllerPort: number,
    private readonly dataDir: string,
    private readonly sasl: KafkaSaslUsers | undefined,
  ) {
    this.bootstrap = `127.0.0.1:${port}`;
  }

  /**
   * Formats the storage of a new single-node cluster and starts it; resolves
   * once it answers a client. With `sasl`, clients must authenticate with
   * SASL/PLAIN (no TLS: a loopback test).
   */
  static async start(sasl?: KafkaSaslUsers): Promise<KafkaBroker> {
    return startOnFreePorts(2, async ([port, controllerPort]) => KafkaBroker.format(port as number, controllerPort as number, sasl));
  }

  /** One attempt of `start`: storage formatted for these ports, then the broker started on them. */
  private static async format(port: number, controllerPort: number, sasl: KafkaSaslUsers | undefined): Promise<KafkaBroker> {
    const broker = new KafkaBroker(port, controllerPort, await mkdtemp(join(tmpdir(), 'fraud-kafka-')), sasl);
    await writeFile(join(broker.dataDir, 'server.properties'), broker.serverProperties());
    await writeFile(join(broker.dataDir, 'log4j2.properties'), LOG4J_PROPERTIES);
    // A cluster id is 16 random bytes in URL-safe base64 without padding (what `StorageTool random-uuid` prints).
    const clusterId = randomBytes(16).toString('base64url');
    const format = spawnSync('java', [...broker.javaArgs(), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', join(broker.dataDir, 'server.properties')], {
      encoding: 'utf8',
    });
    if (format.status !== 0) throw new Error(`kafka-storage format failed (${format.status}):\n${format.stdout.slice(-2_000)}\n${format.stderr.slice(-2_000)}`);
    try {
      await broker.resume();
    } catch (error) {
      await broker.kill();
      throw error;
    }
    return broker;
  }

  /** Starts (or starts again, after `kill`) the broker on its ports and data, and waits until a client can read its metadata. */
  async resume(): Promise<void> {
    this.output = [];
    const child = spawn('java', [...this.javaArgs(), 'kafka.Kafka', join(this.dataDir, 'server.properties')], {
      env: { PATH: process.env.PATH ?? '', HOME: this.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    let started = false;
    const keep = (chunk: Buffer): void => {
      const lines = chunk.toString('utf8').split('\n').filter((line) => line.trim() !== '');
      if (lines.some((line) => line.includes(STARTED_LINE))) started = true;
      this.output.push(...lines);
      this.output.splice(0, Math.max(0, this.output.length - LOG_TAIL_LINES));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    await waitFor(
      `Kafka ${KAFKA_VERSION} to start`,
      () => {
        if (child.exitCode !== null) throw new Error(`Kafka exited with ${child.exitCode}:\n${this.logTail()}`);
        return started;
      },
      START_TIMEOUT_MS,
      100,
    );
    await waitFor('Kafka to answer a metadata request', () => this.answers(), START_TIMEOUT_MS, 200);
  }

  /** True when a client can read the cluster's metadata. */
  async answers(): Promise<boolean> {
    const admin = this.client('fraud-test-probe').admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.length > 0;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** A kafkajs client of this broker for the tests' own reads and writes (quiet: errors only). */
  client(clientId = 'fraud-test'): Kafka {
    const sasl = this.sasl === undefined ? undefined : { mechanism: 'plain' as const, ...this.sasl.admin };
    return new Kafka({ clientId, brokers: [this.bootstrap], sasl, logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
  }

  async createTopic(topic: string, partitions = 3): Promise<void> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }

  /** How many messages `topic` holds: the sum over its partitions of the high watermark minus the log start. */
  async messageCount(topic: string): Promise<number> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((total, partition) => total + Number(partition.high) - Number(partition.low), 0);
    } finally {
      await admin.disconnect();
    }
  }

  /** Every message of `topic` from the beginning, read with a consumer of a new group until it has `expected` of them. */
  async readAll(topic: string, expected: number, timeoutMs = 60_000): Promise<ReadMessage[]> {
    const consumer = this.client().consumer({ groupId: `fraud-test-${randomBytes(6).toString('hex')}` });
    const messages: ReadMessage[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message, partition }: { message: KafkaMessage; partition: number }) => {
          messages.push({ key: message.key?.toString('utf8') ?? '', value: message.value?.toString('utf8') ?? '', partition });
          return Promise.resolve();
        },
      });
      await waitFor(`${expected} messages in ${topic} (have ${messages.length})`, () => messages.length >= expected, timeoutMs, 50);
      return messages;
    } finally {
      await consumer.disconnect();
    }
  }

  /** SIGKILL: an outage, not a shutdown. The data stays for `resume`. */
  async kill(): Promise<void> {
    await killProcess(this.process);
    this.process = undefined;
  }

  /** The last lines the broker printed, for failure messages. */
  logTail(): string {
    return this.output.join('\n');
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  private javaArgs(): string[] {
    return [
      // A test broker: a small heap, and a quick start over peak throughput.
      '-Xms128m',
      '-Xmx512m',
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(this.dataDir, 'log4j2.properties')}`,
      '-cp',
      `${kafkaLibs()}/*`,
    ];
  }

  private serverProperties(): string {
    const protocol = this.sasl === undefined ? 'PLAINTEXT' : 'SASL_PLAINTEXT';
    const sasl =
      this.sasl === undefined
        ? []
        : [
            'sasl.enabled.mechanisms=PLAIN',
            'sasl.mechanism.inter.broker.protocol=PLAIN',
            'listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ' +
              `username="${this.sasl.admin.username}" password="${this.sasl.admin.password}" ` +
              `user_${this.sasl.admin.username}="${this.sasl.admin.password}" user_${this.sasl.user.username}="${this.sasl.user.password}";`,
          ];
    return [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${this.controllerPort}`,
      `listeners=${protocol}://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}`,
      `advertised.listeners=${protocol}://127.0.0.1:${this.port}`,
      'controller.listener.names=CONTROLLER',
      `inter.broker.listener.name=${protocol}`,
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,${protocol}:${protocol}`,
      ...sasl,
      `log.dirs=${join(this.dataDir, 'data')}`,
      'num.partitions=3',
      // One node: every internal topic has one replica.
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      '',
    ].join('\n');
  }
}

/** Kafka logs through SLF4J to log4j2: INFO to standard output, which the helper reads for its start line. */
const LOG4J_PROPERTIES = [
  'status = warn',
  'appender.out.type = Console',
  'appender.out.name = out',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = WARN',
  'rootLogger.appenderRef.out.ref = out',
  'logger.raft.name = kafka.server.KafkaRaftServer',
  'logger.raft.level = INFO',
  '',
].join('\n');

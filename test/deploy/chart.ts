import { readdirSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse, stringify } from 'yaml';
import { packageRoot } from '../../src/packageRoot.js';
import { runTool } from '../helpers/tools.js';

/** The chart under test and its ci/ values files (one per supported setup). */
export const CHART = join(packageRoot, 'deploy', 'helm', 'fraud-scoring');
/** The umbrella chart: the service plus a Valkey server of its own. */
export const UMBRELLA = join(packageRoot, 'deploy', 'helm', 'fraud-scoring-valkey');
export const CI_VALUES = readdirSync(join(CHART, 'ci'))
  .filter((name) => name.endsWith('-values.yaml'))
  .sort();
/** kind's node version in the e2e job; the chart needs >= 1.30. */
export const KUBE_VERSION = '1.37.0';
export const RELEASE = 'fraud';

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}

export interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  failureThreshold?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown } };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  resources?: ResourceRequirements;
}

export interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  emptyDir?: { sizeLimit?: string };
  persistentVolumeClaim?: { claimName: string };
}

export interface ResourceRequirements {
  requests?: { cpu?: string; memory?: string };
  limits?: { cpu?: string; memory?: string };
}

export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    strategy?: { type: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        serviceAccountName: string;
        automountServiceAccountToken?: boolean;
        enableServiceLinks?: boolean;
        terminationGracePeriodSeconds: number;
        securityContext?: SecurityContext & { fsGroup?: number };
        containers: Container[];
        volumes?: Volume[];
      };
    };
  };
}

export interface ServicePort {
  name: string;
  port: number;
  targetPort: number | string;
  appProtocol?: string;
}

export interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: ServicePort[]; clusterIP?: string; publishNotReadyAddresses?: boolean };
}

export interface ConfigMap extends K8sObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export interface Secret extends K8sObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface HorizontalPodAutoscaler extends K8sObject {
  spec: {
    scaleTargetRef: { kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: {
      type: string;
      resource?: { name: string; target: { type: string; averageUtilization: number } };
      containerResource?: { name: string; container: string; target: { type: string; averageUtilization: number } };
    }[];
  };
}

export interface PodDisruptionBudget extends K8sObject {
  spec: { maxUnavailable?: number | string; minAvailable?: number | string; selector: { matchLabels: Record<string, string> } };
}

export interface PersistentVolumeClaim extends K8sObject {
  spec: { accessModes: string[]; storageClassName?: string; resources: { requests: { storage: string } } };
}

export interface Ingress extends K8sObject {
  spec: { rules: { host: string; http: { paths: { path: string; backend: { service: { name: string; port: { name?: string; number?: number } } } }[] } }[] };
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyPort {
  port: number | string;
  protocol?: string;
}

export interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes: string[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

export interface Certificate extends K8sObject {
  spec: {
    secretName: string;
    duration?: string;
    renewBefore?: string;
    dnsNames: string[];
    usages?: string[];
    privateKey?: { algorithm?: string; size?: number; rotationPolicy?: string };
    issuerRef: { name: string; kind?: string; group?: string };
  };
}

export interface ServiceMonitor extends K8sObject {
  spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path?: string }[] };
}

export interface RenderOptions {
  /** ci/ values files by name, e.g. 'lakefs-values.yaml'. */
  readonly values?: readonly string[];
  /** Other values files, by path (after the ci/ ones). */
  readonly valueFiles?: readonly string[];
  /** Release name; RELEASE unless given. */
  readonly release?: string;
  /** --set flags, e.g. { 'envoy.enabled': 'false' }. */
  readonly set?: Readonly<Record<string, string>>;
  readonly kubeVersion?: string;
}

function templateArgs(options: RenderOptions): string[] {
  const args = ['template', options.release ?? RELEASE, CHART, '--namespace', 'fraud', '--kube-version', options.kubeVersion ?? KUBE_VERSION];
  for (const file of options.values ?? []) args.push('--values', join(CHART, 'ci', file));
  for (const file of options.valueFiles ?? []) args.push('--values', file);
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${value}`);
  return args;
}

/** `helm template` of the chart, parsed: one object per rendered document. */
export async function renderChart(options: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await runTool('helm', templateArgs(options));
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr.trim()}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

/** `helm template` that must fail; resolves with its error output. */
export async function renderChartError(options: RenderOptions): Promise<string> {
  const result = await runTool('helm', templateArgs(options));
  if (result.code === 0) throw new Error(`helm template succeeded but should have failed (${JSON.stringify(options)})`);
  return result.stderr;
}

/** The object types the chart renders, by kind. */
export interface Kinds {
  Certificate: Certificate;
  ConfigMap: ConfigMap;
  Deployment: Deployment;
  HorizontalPodAutoscaler: HorizontalPodAutoscaler;
  Ingress: Ingress;
  NetworkPolicy: NetworkPolicy;
  PersistentVolumeClaim: PersistentVolumeClaim;
  PodDisruptionBudget: PodDisruptionBudget;
  Secret: Secret;
  Service: Service;
  ServiceAccount: K8sObject;
  ServiceMonitor: ServiceMonitor;
}

/** The one object of a kind (and name suffix); fails when there is none or several. */
export function only<Kind extends keyof Kinds>(objects: readonly K8sObject[], kind: Kind, nameSuffix = ''): Kinds[Kind] {
  const matches = all(objects, kind).filter((object) => object.metadata.name.endsWith(nameSuffix));
  const [match] = matches;
  if (match === undefined || matches.length > 1) throw new Error(`expected one ${kind} named *${nameSuffix}, found ${matches.length}`);
  return match;
}

export function all<Kind extends keyof Kinds>(objects: readonly K8sObject[], kind: Kind): Kinds[Kind][] {
  return objects.filter((object) => object.kind === kind) as Kinds[Kind][];
}

/** Bytes of a Kubernetes quantity such as 768Mi, 1Gi or 500M. */
export function bytesOf(quantity: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (match === null) throw new Error(`not a memory quantity: ${quantity}`);
  const units: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(match[1]) * (units[match[2] ?? ''] ?? Number.NaN);
}

export function container(deployment: Deployment, name: string): Container {
  const found = deployment.spec.template.spec.containers.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
}

/** The Envoy bootstrap in the chart's ConfigMap, parsed. */
export function envoyConfigOf(objects: readonly K8sObject[]): unknown {
  const text = only(objects, 'ConfigMap', '-envoy').data?.['envoy.yaml'];
  if (text === undefined) throw new Error('the Envoy ConfigMap has no envoy.yaml');
  return parse(text) as unknown;
}

/**
 * The chart's NOTES.txt as `helm install` prints it. `helm template` skips
 * NOTES.txt, so a copy of the chart renders it through `tpl` as a value.
 */
export async function renderNotes(options: RenderOptions = {}): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'fraud-notes-'));
  try {
    const copy = join(folder, 'fraud-scoring');
    await cp(CHART, copy, { recursive: true });
    await writeFile(join(copy, 'files', 'notes.txt'), await readFile(join(CHART, 'templates', 'NOTES.txt')));
    await writeFile(join(copy, 'templates', 'zz-notes.yaml'), 'notes: |\n{{ tpl (.Files.Get "files/notes.txt") . | indent 2 }}\n');
    const args = templateArgs(options).map((arg) => (arg === CHART ? copy : arg));
    const result = await runTool('helm', [...args, '--show-only', 'templates/zz-notes.yaml']);
    if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr.trim()}`);
    return (parse(result.stdout) as { notes: string }).notes;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** A chart's dependency as Chart.yaml lists it. */
interface Dependency {
  readonly name: string;
  readonly version: string;
  readonly repository: string;
}

/**
 * `helm template` of an umbrella chart over this one, without the network: a
 * copy holds this chart in charts/ and leaves out the dependencies fetched from
 * repositories (their values are then ignored), and its NOTES.txt is rendered
 * as a value. Resolves with the objects and the notes.
 */
export async function renderUmbrellaOffline(umbrella: string): Promise<{ objects: K8sObject[]; notes: string }> {
  const folder = await mkdtemp(join(tmpdir(), 'fraud-umbrella-'));
  try {
    const copy = join(folder, 'umbrella');
    await cp(umbrella, copy, { recursive: true });
    await cp(CHART, join(copy, 'charts', 'fraud-scoring'), { recursive: true });
    const chartFile = join(copy, 'Chart.yaml');
    const chart = parse(await readFile(chartFile, 'utf8')) as { dependencies: Dependency[] };
    chart.dependencies = chart.dependencies.filter((dependency) => dependency.repository.startsWith('file://'));
    await writeFile(chartFile, stringify(chart));
    await cp(join(copy, 'templates', 'NOTES.txt'), join(copy, 'notes.txt'));
    await writeFile(join(copy, 'templates', 'zz-notes.yaml'), 'kind: Notes\nnotes: |\n{{ tpl (.Files.Get "notes.txt") . | indent 2 }}\n');
    const result = await runTool('helm', ['template', RELEASE, copy, '--namespace', 'fraud', '--kube-version', KUBE_VERSION]);
    if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr.trim()}`);
    const documents = parseAllDocuments(result.stdout)
      .map((document) => document.toJS() as (K8sObject & { notes?: string }) | null)
      .filter((object): object is K8sObject & { notes?: string } => object !== null);
    const notes = documents.find((document) => document.kind === 'Notes')?.notes;
    if (notes === undefined) throw new Error('the umbrella rendered no NOTES');
    return { objects: documents.filter((document) => document.kind !== 'Notes'), notes };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

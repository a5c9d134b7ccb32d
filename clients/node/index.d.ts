import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Connection, ConnectionOptions } from 'mysql2/promise';

/** The driver name asked of the broker. */
export declare const DRIVER: 'mysql2';
/** Broker address used when neither an argument nor CONNBROKER_ADDR is set. */
export declare const DEFAULT_ADDRESS: string;

/** The broker's ErrorReason value names (broker.proto), as ErrorInfo.reason carries them. */
export type ErrorReason =
  | 'ERROR_REASON_UNSPECIFIED'
  | 'ERROR_REASON_ENDPOINT_NOT_FOUND'
  | 'ERROR_REASON_INVALID_ARGUMENT'
  | 'ERROR_REASON_CREDENTIAL_UNAVAILABLE'
  | 'ERROR_REASON_INTERNAL'
  | 'ERROR_REASON_AUTH_UNDECIDED'
  | 'ERROR_REASON_PERMISSION_DENIED'
  | 'ERROR_REASON_RATE_LIMITED'
  | 'ERROR_REASON_UNAUTHENTICATED'
  | 'ERROR_REASON_AUDIT_UNAVAILABLE';

/** The ErrorInfo domain of the broker's errors. */
export declare const ERROR_DOMAIN: 'connbroker.dev';

/**
 * A failed broker call: code is the gRPC status code, reason the broker's
 * ErrorReason ('ERROR_REASON_UNSPECIFIED' without one), metadata the
 * ErrorInfo metadata (e.g. endpoint, field). Calls reject with the subclass
 * of the reason.
 */
export declare class BrokerError extends Error {
  constructor(message: string, code: number, reason?: ErrorReason, metadata?: Record<string, string>);
  code: number;
  reason: ErrorReason;
  metadata: Record<string, string>;
}
/** No endpoint of that name. Do not retry. */
export declare class EndpointNotFound extends BrokerError {}
/** The policy refuses this caller the endpoint. Do not retry. */
export declare class PermissionDenied extends BrokerError {}
/** The client certificate carries no usable identity. Do not retry. */
export declare class Unauthenticated extends PermissionDenied {}
/** A request field is wrong; metadata.field names it. Do not retry. */
export declare class InvalidRequest extends BrokerError {}
/** Credentials asked for faster than the broker's limits.issue_rate. Retry after a back-off. */
export declare class RateLimited extends BrokerError {}
/** The broker cannot be reached or did not answer in time. Retry with backoff. */
export declare class BrokerUnavailable extends BrokerError {}
/** The broker's credential source failed and no valid cached credential is left. Retry with backoff. */
export declare class CredentialUnavailable extends BrokerUnavailable {}
/** An auth: auto endpoint could not be resolved. Fix the broker's configuration. */
export declare class AuthUndecided extends BrokerError {}
/** The broker keeps no inventory, so it cannot preflight (ERROR_REASON_INVENTORY_OFF). Do not retry. */
export declare class InventoryOff extends BrokerError {}
/** A broker bug; its log has the details. */
export declare class BrokerInternalError extends BrokerError {}

/** The connbroker ErrorInfo of a grpc-js error, or null. */
export declare function errorInfo(err: unknown): { reason: string; metadata: Record<string, string> } | null;
/** The BrokerError subclass for a grpc-js error, with message. */
export declare function fromRpcError(err: { code: number; metadata?: unknown }, message: string): BrokerError;

/** The broker did not answer and no usable kept params were there. */
export declare class BrokerUnavailable extends BrokerError {
  /** How long ago the kept params expired; null when there were none. */
  expiredAgoMs: number | null;
}

/** Counters of stale serving, for export as metrics. */
export interface ResilienceStats {
  staleServes: number;
  /** Per "endpoint/driver". */
  staleServesByKey: Record<string, number>;
  outages: number;
  /** Date.now() when the current outage began, or null. */
  outageSince: number | null;
  expiredRefusals: number;
}

/** A client of one broker, or of several replicas (a list of IP:port, or dns:///name:port). */
export declare class Client {
  constructor(address?: string, opts?: {
    timeoutMs?: number;
    credentials?: ChannelCredentials;
    /** Serve the last params while the broker is away (default true). */
    serveStale?: boolean;
    /** Stop serving kept params this long before expiresAt (default 60000). */
    staleMarginMs?: number;
    /** How long kept params without expiresAt are served (default 900000). */
    staleWithoutExpiryMs?: number;
    /** Receives one warning per outage (default console). */
    logger?: { warn(message: string): void };
    /** Send this process's environment (mysql2 version, Node.js, SSL_CERT_*) with the first request per endpoint, for the broker's inventory (default true). */
    reportEnvironment?: boolean;
  });
  readonly address: string;
  /** ConnectionParams as decoded by @grpc/proto-loader (camelCase fields). */
  getConnectionParams(endpoint: string, driver?: string): Promise<any>;
  /** Reports a login refused with 1045/1698; the broker re-reads the credential source. */
  reportLoginFailure(endpoint: string, driver: string, mysqlErrno: number): Promise<{ reread: boolean; changed: boolean }>;
  /** Counters of stale serving (zeros with serveStale: false). */
  resilienceStats(): ResilienceStats;
  /** The drivers the broker renders hints for (ListDrivers), sorted by name. */
  listDrivers(): Promise<DriverInfo[]>;
  /** The broker's inventory (ListInventory) for the endpoints this caller may get. */
  listInventory(endpoint?: string, limit?: number): Promise<any>;
  close(): void;
}

/** A driver the broker knows (ListDrivers' DriverInfo). */
export interface DriverInfo {
  /** Canonical name, e.g. 'mysql2'; getConnectionParams takes it. */
  name: string;
  /** Other names accepted for it (case-insensitive). */
  aliases: string[];
  /** For people, e.g. 'PyMySQL'. */
  displayName: string;
  /** Where the driver runs: 'python', 'go', 'node', 'java' or 'cli'. */
  runtime: string;
  /** The driver whose connection this one makes (SQLAlchemy dialects); '' when none. */
  wraps: string;
  /** What the application's process must have. */
  environment: {
    /** Package to install, e.g. 'mysql2'; '' for none. */
    package: string;
    /** What the application imports or runs. */
    module: string;
    /** Lowest version the hints are known to work with. */
    minVersion: string;
    /** Packages that change what the driver can do. */
    optionalPackages: string[];
    /** Environment variables the driver reads. */
    envVars: string[];
    /** What goes wrong below a version. */
    versionRules: { below: string; problem: string }[];
    /** Above 0: the order a doctor tries drivers in when none is named (1 first). */
    guessOrder: number;
  };
  /** Labels of the settings the comparison table shows for it. */
  variants: string[];
}

/** One decoded HintOption (proto-loader, oneofs: true): value names the set field. */
export interface HintOption {
  name: string;
  value?: 'stringValue' | 'intValue' | 'boolValue' | 'optionsValue';
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  optionsValue?: { options?: HintOption[] };
}
/** Converts decoded hint options into a plain object (nested groups become objects). */
export declare function optionsToObject(options: HintOption[] | undefined): Record<string, unknown>;
/** mysql2 options from params for the mysql2 driver; holds the secret. */
export declare function mysql2Options(params: any, overrides?: ConnectionOptions): ConnectionOptions;
/** Opens a mysql2/promise connection with fresh params. */
export declare function connect(endpoint: string, opts?: { client?: Client; overrides?: ConnectionOptions }): Promise<Connection>;

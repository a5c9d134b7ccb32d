import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Connection, ConnectionOptions } from 'mysql2/promise';

/** The driver name asked of the broker. */
export declare const DRIVER: 'mysql2';
/** Broker address used when neither an argument nor CONNBROKER_ADDR is set. */
export declare const DEFAULT_ADDRESS: string;

/** A failed broker call; code is the gRPC status code. */
export declare class BrokerError extends Error {
  code: number;
}

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
  });
  readonly address: string;
  /** ConnectionParams as decoded by @grpc/proto-loader (camelCase fields). */
  getConnectionParams(endpoint: string, driver?: string): Promise<any>;
  /** Reports a login refused with 1045/1698; the broker re-reads the credential source. */
  reportLoginFailure(endpoint: string, driver: string, mysqlErrno: number): Promise<{ reread: boolean; changed: boolean }>;
  /** Counters of stale serving (zeros with serveStale: false). */
  resilienceStats(): ResilienceStats;
  close(): void;
}

/** Converts a decoded google.protobuf.Struct into a plain object. */
export declare function structToObject(s: unknown): Record<string, unknown>;
/** mysql2 options from params for the mysql2 driver; holds the secret. */
export declare function mysql2Options(params: any, overrides?: ConnectionOptions): ConnectionOptions;
/** Opens a mysql2/promise connection with fresh params. */
export declare function connect(endpoint: string, opts?: { client?: Client; overrides?: ConnectionOptions }): Promise<Connection>;

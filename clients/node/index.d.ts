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

/** A client of one broker. */
export declare class Client {
  constructor(address?: string, opts?: { timeoutMs?: number; credentials?: ChannelCredentials });
  readonly address: string;
  /** ConnectionParams as decoded by @grpc/proto-loader (camelCase fields). */
  getConnectionParams(endpoint: string, driver?: string): Promise<any>;
  close(): void;
}

/** Converts a decoded google.protobuf.Struct into a plain object. */
export declare function structToObject(s: unknown): Record<string, unknown>;
/** mysql2 options from params for the mysql2 driver; holds the secret. */
export declare function mysql2Options(params: any, overrides?: ConnectionOptions): ConnectionOptions;
/** Opens a mysql2/promise connection with fresh params. */
export declare function connect(endpoint: string, opts?: { client?: Client; overrides?: ConnectionOptions }): Promise<Connection>;

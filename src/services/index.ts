// Clients for OPA's `services` configuration, shared by every feature that talks to a remote service.
export { parseServices, ServiceConfigError } from './config.js';
export type { BearerCredentials, ClientTlsCredentials, ServiceConfig, ServiceCredentials } from './config.js';
export { createServiceClients, OPA_USER_AGENT, UnknownServiceError } from './client.js';
export type { ServiceClientOptions, ServiceClients, ServiceRequest, ServiceResponse } from './client.js';

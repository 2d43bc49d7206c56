/** Who an MQTT connection belongs to once its credentials were accepted: a meter or a grid worker's app. */
export type Principal = { kind: 'meter'; id: string } | { kind: 'worker'; id: string };

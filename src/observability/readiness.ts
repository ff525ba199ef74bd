/** One dependency `/readyz` asks about; each capability says how its own is reached. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

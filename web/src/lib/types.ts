// Shapes of the API's objects (docs/openapi.json, shared/API.md).

export type Role = "member" | "seller" | "business" | "organizer" | "moderator" | "admin";
export const ALL_ROLES: Role[] = ["member", "seller", "business", "organizer", "moderator", "admin"];

export interface User {
  id: string;
  email: string;
  display_name: string;
  bio?: string;
  avatar_url?: string;
  timezone?: string;
  tenant?: string;
  email_verified: boolean;
  mfa_enabled?: boolean;
  disabled?: boolean;
  created_at: string;
  roles: Role[];
}

export interface SessionData {
  access_token: string;
  refresh_token: string;
  token_type: "Bearer";
  expires_in: number;
  user: User;
}

export interface Money {
  amount: number;
  currency: string;
}

export interface Show {
  id: string;
  event_id: string;
  starts_at: string;
  ends_at: string;
  queue: { enabled: boolean; admit_per_minute: number };
}

export interface EventItem {
  id: string;
  slug: string;
  title: string;
  description: string;
  category: string;
  venue: string;
  starts_at: string;
  sale_starts_at: string;
  max_per_user: number;
  currency: string;
  status: "draft" | "published" | string;
  organizer_id: string;
  created_at: string;
  shows?: Show[];
}

export interface Zone {
  id: string;
  show_id: string;
  name: string;
  price: Money;
  capacity: number;
  available: number;
}

export type BookingStatus = "reserved" | "confirmed" | "cancelled" | "expired" | "refunded";

export interface Booking {
  id: string;
  status: BookingStatus;
  event_id: string;
  show_id: string;
  zone_id: string;
  quantity: number;
  amount: Money;
  expires_at: string;
  created_at: string;
}

export interface QueueState {
  position: number;
  status: "waiting" | "ready" | "expired";
  estimated_wait_seconds: number;
  queue_pass?: string;
  queue_pass_expires_at?: string;
}

export interface Ticket {
  ticket_id: string;
  booking_id: string;
  qr_svg: string;
}
